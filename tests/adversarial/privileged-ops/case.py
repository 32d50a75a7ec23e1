"""Tries what root in a VM could do: mount, load a kernel module, raw sockets, setuid,
chroot, a new user namespace, raise the clock. Prints what failed, then serves normally."""

import ctypes
import ctypes.util
import os
import socket

import app

libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def syscall_ok(name, rc):
    if rc == 0:
        print(f"ALLOWED: {name}", flush=True)
    else:
        print(f"denied: {name}: {os.strerror(ctypes.get_errno())}", flush=True)


def try_call(name, fn):
    try:
        fn()
        print(f"ALLOWED: {name}", flush=True)
    except OSError as exc:
        print(f"denied: {name}: {exc}", flush=True)


print(f"uid={os.getuid()} euid={os.geteuid()} gid={os.getgid()}", flush=True)
syscall_ok("mount tmpfs", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
syscall_ok("mount proc", libc.mount(b"proc", b"/tmp", b"proc", 0, None))
syscall_ok("umount /proc", libc.umount2(b"/proc", 2))
# finit_module(fd, "", 0) on an empty file: EPERM without CAP_SYS_MODULE (313 on x86_64).
fd = os.open("/tmp", os.O_RDONLY)
syscall_ok("finit_module", libc.syscall(313, fd, b"", 0))
os.close(fd)
syscall_ok("delete_module", libc.syscall(176, b"ext4", 0))
try_call("raw socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
try_call("packet socket", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
try_call("setuid 0", lambda: os.setuid(0))
try_call("setgid 0", lambda: os.setgid(0))
try_call("chroot", lambda: os.chroot("/tmp"))
syscall_ok("unshare user+mount ns", libc.unshare(0x10000000 | 0x00020000))
syscall_ok("sethostname", libc.sethostname(b"pwned", 5))
syscall_ok("reboot", libc.reboot(0x4321FEDC))
try_call("write /proc/sysrq-trigger", lambda: open("/proc/sysrq-trigger", "w").write("h"))
try_call("write /sys/kernel/mm", lambda: open("/sys/kernel/mm/transparent_hugepage/enabled", "w").write("never"))
try_call("mknod /tmp/sda", lambda: os.mknod("/tmp/sda", 0o600 | 0o060000, os.makedev(8, 0)))
try_call("chown /tmp to root", lambda: os.chown("/tmp", 0, 0))
print("probes done; serving", flush=True)
app.serve()
