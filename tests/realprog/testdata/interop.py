# The Python side of the interop test (see tests/cprogs/real_interop.c):
#   interop.py KEY append LINE   print the segment's text, then append LINE
#   interop.py KEY remove        IPC_RMID the segment
#   interop.py version           print sysv_ipc.VERSION
# Checks what IPC_STAT says on the way: 4096 bytes, nattch 1 while attached
# (each step runs alone in a fresh IPC namespace).
import sys

import sysv_ipc


def main():
    if sys.argv[1] == "version":
        print(sysv_ipc.VERSION)
        return
    key, mode = int(sys.argv[1], 0), sys.argv[2]
    shm = sysv_ipc.SharedMemory(key)  # shmget(key, 0, 0) and shmat
    if shm.size != 4096 or shm.number_attached != 1:
        sys.exit("interop.py: size %d nattch %d, want 4096 and 1"
                 % (shm.size, shm.number_attached))
    if mode == "remove":
        shm.detach()
        shm.remove()
        return
    text = shm.read().split(b"\0", 1)[0]
    sys.stdout.buffer.write(text)
    shm.write((sys.argv[3] + "\n").encode(), len(text))
    shm.detach()


main()
