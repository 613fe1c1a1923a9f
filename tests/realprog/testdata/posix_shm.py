"""multiprocessing.shared_memory across a restart (tests/realprog/posix_restart_test.go).

    posix_shm.py create NAME   make NAME (4096 bytes), write "hello" in this
                               process and " from a child" in a forked one
    posix_shm.py read NAME     print what NAME holds, then unlink it
    posix_shm.py version       print Python's version
"""
import sys
from multiprocessing import Process, resource_tracker, shared_memory


def child(name):
    shm = shared_memory.SharedMemory(name=name)
    shm.buf[5:18] = b" from a child"
    shm.close()


def create(name):
    shm = shared_memory.SharedMemory(name=name, create=True, size=4096)
    shm.buf[:5] = b"hello"
    p = Process(target=child, args=(name,))
    p.start()
    p.join()
    print("created", bytes(shm.buf[:18]).decode(), "exit", p.exitcode)
    shm.close()
    # The object is meant to outlive this process: without this, the
    # resource tracker unlinks it at exit as a leak.
    resource_tracker.unregister(shm._name, "shared_memory")


def read(name):
    try:
        shm = shared_memory.SharedMemory(name=name)
    except FileNotFoundError:
        print("lost", name)
        return 1
    print("found", bytes(shm.buf[:18]).decode(), "size", shm.size)
    shm.close()
    shm.unlink()
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "version":
        print(sys.version.split()[0])
        sys.exit(0)
    sys.exit({"create": create, "read": read}[sys.argv[1]](sys.argv[2]) or 0)
