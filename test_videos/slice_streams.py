#!/usr/bin/env python3
"""Makes H.264 streams that no common encoder writes, from a Baseline multi-slice stream:

  slice_streams.py aso SRC OUT        arbitrary slice order: the slices of every picture in
                                      reverse order (the first at the last macroblock row),
                                      constraint_set1 cleared (Constrained Baseline forbids ASO)
  slice_streams.py redundant SRC OUT  redundant pictures: the PPS signals redundant_pic_cnt,
                                      every slice gets redundant_pic_cnt 0, and a copy of each
                                      picture's first slice with redundant_pic_cnt 1 follows it
  slice_streams.py level SRC OUT N    level_idc N written in every SPS (too small a level for
                                      the picture size, as many real encoders write)

Only what Baseline CAVLC streams from x264 use is handled (frame_mbs_only, one slice group,
pic_order_cnt_type 0 or 2); anything else is refused. The pictures are unchanged, so the
frame count and IDR indices of OUT are those of SRC.
"""
import sys


def split_nals(data):
    """[(start_code_bytes, nal_bytes)] of an Annex-B stream (leading bytes dropped)."""
    out, i, n = [], 0, len(data)
    starts = []
    while True:
        j = data.find(b"\x00\x00\x01", i)
        if j < 0:
            break
        sc = 4 if j > 0 and data[j - 1] == 0 else 3
        starts.append((j + 3 - sc, j + 3))
        i = j + 3
    for k, (sc_start, nal_start) in enumerate(starts):
        end = starts[k + 1][0] if k + 1 < len(starts) else n
        nal = data[nal_start:end]
        out.append((data[sc_start:nal_start], nal))
    return out


def ebsp_to_rbsp(b):
    out, zeros = bytearray(), 0
    for x in b:
        if zeros >= 2 and x == 3:
            zeros = 0
            continue
        zeros = zeros + 1 if x == 0 else 0
        out.append(x)
    return bytes(out)


def rbsp_to_ebsp(b):
    out, zeros = bytearray(), 0
    for x in b:
        if zeros >= 2 and x <= 3:
            out.append(3)
            zeros = 0
        out.append(x)
        zeros = zeros + 1 if x == 0 else 0
    return bytes(out)


class Bits:
    def __init__(self, data):
        self.s = "".join(f"{x:08b}" for x in data)
        self.p = 0

    def u(self, n):
        v = int(self.s[self.p : self.p + n] or "0", 2)
        self.p += n
        return v

    def ue(self):
        z = 0
        while self.s[self.p] == "0":
            z += 1
            self.p += 1
        self.p += 1
        return (1 << z) - 1 + self.u(z)

    def se(self):
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


def ue_bits(v):
    b = bin(v + 1)[2:]
    return "0" * (len(b) - 1) + b


def payload_bits(rbsp):
    """The RBSP's bits without rbsp_trailing_bits (stop bit and alignment zeros)."""
    s = "".join(f"{x:08b}" for x in rbsp)
    return s[: s.rstrip("0").rfind("1")] if "1" in s else s


def bits_to_rbsp(s):
    s += "1"
    s += "0" * (-len(s) % 8)
    return bytes(int(s[i : i + 8], 2) for i in range(0, len(s), 8))


def parse_sps(rbsp):
    r = Bits(rbsp)
    profile = r.u(8)
    r.u(16)
    r.ue()
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128):
        sys.exit("only Baseline/Main SPS are handled")
    log2_frame_num = r.ue() + 4
    poc_type = r.ue()
    log2_poc_lsb = r.ue() + 4 if poc_type == 0 else 0
    if poc_type == 1:
        sys.exit("pic_order_cnt_type 1 is not handled")
    r.ue()  # max_num_ref_frames
    r.u(1)
    r.ue()
    r.ue()
    if not r.u(1):
        sys.exit("field coding is not handled")
    return log2_frame_num, poc_type, log2_poc_lsb


def pps_redundant_flag_position(rbsp):
    """Bit position of redundant_pic_cnt_present_flag, and bottom_field_pic_order flag."""
    r = Bits(rbsp)
    r.ue()
    r.ue()
    if r.u(1):
        sys.exit("CABAC streams are not handled")
    bottom = r.u(1)
    if r.ue() != 0:
        sys.exit("slice groups are not handled")
    r.ue()
    r.ue()
    r.u(1)
    r.u(2)
    r.se()
    r.se()
    r.se()
    r.u(1)
    r.u(1)
    return r.p, bottom


def slice_redundant_position(rbsp, nal_type, sps):
    log2_frame_num, poc_type, log2_poc_lsb = sps
    r = Bits(rbsp)
    r.ue()
    r.ue()
    r.ue()
    r.u(log2_frame_num)
    if nal_type == 5:
        r.ue()
    if poc_type == 0:
        r.u(log2_poc_lsb)
    return r.p


def make_redundant(nals):
    sps = None
    out = []
    pending_first = None  # (start code, header byte, bits, pos) of the picture's first slice

    def flush():
        nonlocal pending_first
        if pending_first:
            sc, header, bits, pos = pending_first
            s = bits[:pos] + ue_bits(1) + bits[pos:]
            # A redundant slice is never a reference for inter prediction of its own, but
            # keeps the primary's nal_ref_idc so that it stays in the same access unit.
            out.append((sc, bytes([header]) + rbsp_to_ebsp(bits_to_rbsp(s))))
            pending_first = None

    for sc, nal in nals:
        t = nal[0] & 0x1F
        rbsp = ebsp_to_rbsp(nal[1:])
        if t in (1, 5):
            bits = payload_bits(rbsp)
            pos = slice_redundant_position(rbsp, t, sps)
            first_mb = Bits(rbsp).ue()
            if first_mb == 0:
                flush()
            new = bits[:pos] + ue_bits(0) + bits[pos:]
            out.append((sc, nal[:1] + rbsp_to_ebsp(bits_to_rbsp(new))))
            if first_mb == 0:
                pending_first = (sc, nal[0], bits, pos)
            continue
        flush()
        if t == 7:
            sps = parse_sps(rbsp)
        if t == 8:
            bits = payload_bits(rbsp)
            pos, _ = pps_redundant_flag_position(rbsp)
            new = bits[:pos] + "1" + bits[pos + 1 :]
            nal = nal[:1] + rbsp_to_ebsp(bits_to_rbsp(new))
        out.append((sc, nal))
    flush()
    return out


def make_aso(nals):
    out, slices = [], []

    def flush():
        out.extend(reversed(slices))
        slices.clear()

    for sc, nal in nals:
        t = nal[0] & 0x1F
        if t in (1, 5):
            if Bits(ebsp_to_rbsp(nal[1:])).ue() == 0:
                flush()
            slices.append((sc, nal))
            continue
        flush()
        if t == 7:
            # Clear constraint_set1_flag: ASO is a Baseline (not Constrained Baseline) tool.
            nal = nal[:2] + bytes([nal[2] & ~0x40]) + nal[3:]
        out.append((sc, nal))
    flush()
    # Every slice keeps the start code length it had at its new place's predecessor: the
    # first NAL unit of an access unit conventionally has a 4-byte one.
    return out


def make_level(nals, level_idc):
    out = []
    for sc, nal in nals:
        if nal[0] & 0x1F == 7:
            nal = nal[:3] + bytes([level_idc]) + nal[4:]
        out.append((sc, nal))
    return out


def main():
    kind, src, dst = sys.argv[1:4]
    nals = split_nals(open(src, "rb").read())
    if kind == "aso":
        nals = make_aso(nals)
    elif kind == "redundant":
        nals = make_redundant(nals)
    elif kind == "level":
        nals = make_level(nals, int(sys.argv[4]))
    else:
        sys.exit(f"unknown kind {kind}")
    with open(dst, "wb") as f:
        for sc, nal in nals:
            f.write(sc + nal)


if __name__ == "__main__":
    main()
