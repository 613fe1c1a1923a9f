<?php
// sysv.php - PHP's sysvshm and shmop extensions as a legacy application
// uses them, driven by tests/realprog/php_test.go:
//
//   php sysv.php write KEY_VAR KEY_OP TEXT   shm_put_var an array, shmop_write TEXT
//   php sysv.php read KEY_VAR KEY_OP         print both back
//   php sysv.php remove KEY_VAR KEY_OP       shm_remove, shmop_delete
//   php sysv.php opcache                     opcache's state and its memory model
//   php sysv.php sem KEY                     sysvsem: sem_get, acquire, release
//   php sysv.php creds KEY                   shmop as root, after posix_seteuid(1000), as root
//
// PHP loads these extensions with RTLD_DEEPBIND (issue 16).
[$_, $mode] = $argv;
if ($mode === 'opcache') {
	$s = opcache_get_status(false);
	printf("opcache enabled=%s model=%s used=%d\n", var_export($s['opcache_enabled'], true),
		ini_get('opcache.preferred_memory_model'), $s['memory_usage']['used_memory']);
	// The kernel's segments of this IPC namespace, while opcache holds its
	// own: read from /proc, not through the System V calls.
	$sizes = [];
	foreach (array_slice(file('/proc/sysvipc/shm'), 1) as $line)
		$sizes[] = preg_split('/\s+/', trim($line))[3];
	printf("kernel segment sizes: [%s]\n", implode(' ', $sizes));
	exit(0);
}
if ($mode === 'sem') {
	$s = sem_get(intval($argv[2], 0), 1, 0600, false) or exit(1);
	sem_acquire($s) or exit(1);
	sem_release($s) or exit(1);
	echo "sem acquired and released\n";
	exit(0);
}
if ($mode === 'creds') {
	// The extension's own seteuid() call changes who the next call is.
	$key = intval($argv[2], 0);
	$o = shmop_open($key, 'c', 0600, 64) or exit(1);
	foreach ([0, 1000, 0] as $euid) {
		posix_seteuid($euid) or exit(1);
		printf("shmop_open as euid %d: %s\n", posix_geteuid(),
			@shmop_open($key, 'a', 0, 0) ? 'opened' : 'refused');
	}
	shmop_delete($o);
	exit(0);
}
$kv = intval($argv[2], 0);
$ko = intval($argv[3], 0);
switch ($mode) {
case 'write':
	$s = shm_attach($kv, 4096, 0600) or exit(1);
	shm_put_var($s, 1, ['text' => $argv[4], 'n' => 42]) or exit(1);
	$o = shmop_open($ko, 'c', 0600, 64) or exit(1);
	shmop_write($o, str_pad($argv[4], 64, "\0"), 0);
	echo "wrote\n";
	break;
case 'read':
	$s = shm_attach($kv, 4096, 0600) or exit(1);
	if (!shm_has_var($s, 1)) {
		echo "sysvshm: no variable\n";
		exit(1);
	}
	$v = shm_get_var($s, 1);
	printf("sysvshm: %s %d\n", $v['text'], $v['n']);
	$o = @shmop_open($ko, 'a', 0, 0);
	if (!$o) {
		echo "shmop: no segment\n";
		exit(1);
	}
	printf("shmop: %s (%d bytes)\n", rtrim(shmop_read($o, 0, shmop_size($o)), "\0"), shmop_size($o));
	break;
case 'remove':
	$s = shm_attach($kv, 4096, 0600) or exit(1);
	shm_remove($s) or exit(1);
	$o = shmop_open($ko, 'w', 0, 0) or exit(1);
	shmop_delete($o) or exit(1);
	echo "removed\n";
	break;
default:
	exit(2);
}
