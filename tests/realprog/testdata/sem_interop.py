# The Python side of the semaphore interop test (tests/realprog/sem_test.go):
#   sem_interop.py KEY post     V, then print the value
#   sem_interop.py KEY take     P (5 s timeout), then print the value
#   sem_interop.py KEY busy     P without waiting: print "busy" if it would block
#   sem_interop.py KEY hold     P with SEM_UNDO, print "held", wait to be killed
#   sem_interop.py KEY gone     print "gone" if the set does not exist
#   sem_interop.py version      print sysv_ipc.VERSION
import sys
import time

import sysv_ipc


def main():
    if sys.argv[1] == "version":
        print(sysv_ipc.VERSION)
        return
    key, mode = int(sys.argv[1], 0), sys.argv[2]
    if mode == "gone":
        try:
            sysv_ipc.Semaphore(key)
        except sysv_ipc.ExistentialError:
            print("gone")
        return
    sem = sysv_ipc.Semaphore(key)  # semget(key, 0, 0)
    if mode == "post":
        sem.release()
    elif mode == "take":
        sem.acquire(5)
    elif mode == "busy":
        try:
            sem.acquire(0)
        except sysv_ipc.BusyError:
            print("busy")
            return
    elif mode == "hold":
        sem.undo = True
        sem.acquire()
        print("held", flush=True)
        while True:
            time.sleep(60)
    print(sem.value)


main()
