/*
 * x11_shm - an MIT-SHM client that also keeps state in a keyed segment:
 * the program GOSHM_KEYS is for (tests/conformance/x11_test.go).
 *
 *   x11_shm KEY
 *   x11_shm --probe    exit 0 once the X server answers
 *
 * It keeps a counter in the segment of KEY (created if missing), then puts
 * an image through MIT-SHM: an IPC_PRIVATE segment, attached by the client
 * with shmat and by the X server with XShmAttach.  The X server attaches by
 * shmid in its own IPC namespace, with the kernel's shmat: it can attach
 * only a kernel segment.  Prints
 *
 *   counter N          the keyed segment's counter after this run
 *   xshm ok            the X server attached the segment and the image
 *                      went through
 *   xshm failed: WHY   it did not (the X error, or what failed first)
 *
 * Built with -lX11 -lXext when their headers are there (tests/cprogs is
 * built by make; this program needs libx11-dev and libxext-dev).
 */
#include <X11/Xlib.h>
#include <X11/Xutil.h>
#include <X11/extensions/XShm.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>

static int x_error;
static char x_error_text[128];

static int on_error(Display *d, XErrorEvent *e)
{
	x_error = e->error_code;
	XGetErrorText(d, e->error_code, x_error_text, sizeof x_error_text);
	return 0;
}

static int keyed_counter(key_t key)
{
	int id = shmget(key, 4096, IPC_CREAT | 0600);
	if (id < 0)
		return -1;
	unsigned *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return -1;
	int n = (int)++p[0];
	shmdt(p);
	return n;
}

static const char *put_image(Display *d)
{
	static char why[192];
	int screen = DefaultScreen(d);
	if (!XShmQueryExtension(d))
		return "no MIT-SHM extension";
	XShmSegmentInfo info;
	XImage *img = XShmCreateImage(d, DefaultVisual(d, screen), (unsigned)DefaultDepth(d, screen),
	                              ZPixmap, NULL, &info, 64, 64);
	if (!img)
		return "XShmCreateImage";
	info.shmid = shmget(IPC_PRIVATE, (size_t)img->bytes_per_line * (size_t)img->height,
	                    IPC_CREAT | 0600);
	if (info.shmid < 0) {
		snprintf(why, sizeof why, "shmget: %s", strerror(errno));
		return why;
	}
	info.shmaddr = img->data = shmat(info.shmid, NULL, 0);
	if (info.shmaddr == (void *)-1) {
		snprintf(why, sizeof why, "shmat: %s", strerror(errno));
		return why;
	}
	memset(img->data, 0x5a, (size_t)img->bytes_per_line * (size_t)img->height);
	info.readOnly = False;
	XSetErrorHandler(on_error);
	XShmAttach(d, &info);
	XSync(d, False);
	const char *r = NULL;
	if (x_error) {
		snprintf(why, sizeof why, "XShmAttach: %s", x_error_text);
		r = why;
	} else {
		Window w = XCreateSimpleWindow(d, RootWindow(d, screen), 0, 0, 64, 64, 0, 0, 0);
		GC gc = XCreateGC(d, w, 0, NULL);
		XShmPutImage(d, w, gc, img, 0, 0, 0, 0, 64, 64, False);
		XSync(d, False);
		if (x_error) {
			snprintf(why, sizeof why, "XShmPutImage: %s", x_error_text);
			r = why;
		}
		XShmDetach(d, &info);
		XSync(d, False);
	}
	shmdt(info.shmaddr);
	shmctl(info.shmid, IPC_RMID, NULL);
	return r;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--probe")) {
		Display *d = XOpenDisplay(NULL);
		if (d)
			XCloseDisplay(d);
		return d ? 0 : 1;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: x11_shm KEY\n");
		return 64;
	}
	printf("counter %d\n", keyed_counter((key_t)strtol(argv[1], NULL, 0)));
	Display *d = XOpenDisplay(NULL);
	if (!d) {
		printf("xshm failed: cannot open display %s\n", getenv("DISPLAY"));
		return 0;
	}
	const char *why = put_image(d);
	if (why)
		printf("xshm failed: %s\n", why);
	else
		printf("xshm ok\n");
	XCloseDisplay(d);
	return 0;
}
