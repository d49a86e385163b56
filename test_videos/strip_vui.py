#!/usr/bin/env python3
"""Rewrite every SPS of an H.264 Annex-B stream so that it carries no VUI.

x264 always writes VUI timing; the test set needs a stream without it (the receiver must
then assume 25 fps, as ffprobe does). Parses the SPS up to vui_parameters_present_flag,
clears it, and re-emits the RBSP with emulation prevention. Baseline/main SPS only
(no scaling matrices), which is what make.sh feeds it.
"""
import sys


class Bits:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def u(self, n):
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self):
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)


def unescape(b):
    out, zeros = bytearray(), 0
    for x in b:
        if zeros >= 2 and x == 3:
            zeros = 0
            continue
        out.append(x)
        zeros = zeros + 1 if x == 0 else 0
    return bytes(out)


def escape(b):
    out, zeros = bytearray(), 0
    for x in b:
        if zeros >= 2 and x <= 3:
            out.append(3)
            zeros = 0
        out.append(x)
        zeros = zeros + 1 if x == 0 else 0
    return bytes(out)


def strip(rbsp):
    r = Bits(rbsp)
    profile = r.u(8)
    r.u(16)  # constraint flags, level
    r.ue()  # sps id
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        if r.ue() == 3:
            r.u(1)
        r.ue(); r.ue(); r.u(1)
        if r.u(1):
            raise SystemExit("scaling matrices not supported")
    r.ue()  # log2_max_frame_num_minus4
    poc = r.ue()
    if poc == 0:
        r.ue()
    elif poc == 1:
        r.u(1); r.ue(); r.ue()
        for _ in range(r.ue()):
            r.ue()
    r.ue(); r.u(1); r.ue(); r.ue()
    if r.u(1) == 0:
        r.u(1)
    r.u(1)
    if r.u(1):
        r.ue(); r.ue(); r.ue(); r.ue()
    keep = r.pos  # bit position of vui_parameters_present_flag
    bits = []
    rd = Bits(rbsp)
    for _ in range(keep):
        bits.append(rd.u(1))
    bits += [0, 1]  # vui_parameters_present_flag = 0, rbsp_stop_one_bit
    while len(bits) % 8:
        bits.append(0)
    return bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8))


def main(src, dst):
    data = open(src, "rb").read()
    starts, i = [], 0
    while True:
        i = data.find(b"\x00\x00\x01", i)
        if i < 0:
            break
        starts.append(i + 3)
        i += 3
    out = bytearray()
    for n, s in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(data)
        nal = data[s:end]
        # keep the 4th zero of a 4-byte start code with the next unit, as found
        trail = b""
        while nal.endswith(b"\x00") and n + 1 < len(starts):
            nal, trail = nal[:-1], trail + b"\x00"
        if nal and nal[0] & 0x1F == 7:
            nal = nal[:1] + escape(strip(unescape(nal[1:])))
        out += b"\x00\x00\x01" + nal + trail
    lead = data[: starts[0] - 3] if starts else b""
    open(dst, "wb").write(lead + out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
