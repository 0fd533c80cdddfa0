import ctypes, mmap, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
path = sys.argv[1].encode()
flags = int(sys.argv[2]) if len(sys.argv) > 2 else os.O_RDONLY
params = ctypes.create_string_buffer(120)
fd = libc.syscall(425, 4, params)
assert fd >= 0, ctypes.get_errno()
sq_entries, cq_entries = struct.unpack_from("II", params, 0)
sq_head, sq_tail, sq_mask, sq_n, sq_flags, sq_dropped, sq_array = struct.unpack_from("7I", params, 40)
cq_head, cq_tail, cq_mask, cq_n, cq_overflow, cq_cqes = struct.unpack_from("6I", params, 80)
ring_len = max(sq_array + sq_entries * 4, cq_cqes + cq_entries * 16)
ring = mmap.mmap(fd, ring_len, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
sqes = mmap.mmap(fd, sq_entries * 64, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0x10000000)
buf = ctypes.create_string_buffer(path)
# IORING_OP_OPENAT (18): fd = dirfd, addr = path, len = mode, open_flags = flags.
sqe = struct.pack("<BBHiQQIIQ", 18, 0, 0, -100, 0, ctypes.addressof(buf), 0o644, flags, 7)
sqes[0:len(sqe)] = sqe
tail = struct.unpack_from("I", ring, sq_tail)[0]
struct.pack_into("I", ring, sq_array + (tail & sq_mask) * 4, 0)
struct.pack_into("I", ring, sq_tail, tail + 1)
n = libc.syscall(426, fd, 1, 1, 1, None, 0)
assert n == 1, ctypes.get_errno()
head = struct.unpack_from("I", ring, cq_head)[0]
user_data, res, cflags = struct.unpack_from("<QiI", ring, cq_cqes + (head & cq_mask) * 16)
assert user_data == 7, user_data
print(res)
assert res >= 0, res
