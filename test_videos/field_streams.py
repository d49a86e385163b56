#!/usr/bin/env python3
"""Makes H.264 streams of field pictures (PAFF), which no encoder at hand writes (x264's
--interlaced is MBAFF: frame pictures with field macroblock pairs):

  field_streams.py paff OUT [FRAMES]     Main profile, 64x64 frames coded as two field
                                         pictures each (top first), POC type 0; every
                                         field's macroblocks are I_PCM in the IDR frames
                                         (every 10th), else P_Skip in non-reference P
                                         fields (which therefore share frame_num 1 after
                                         each IDR, 7.4.3). FRAMES default 30.
  field_streams.py paff-aud OUT [FRAMES] the same with an access unit delimiter before every
                                         field (each field is an access unit, 7.4.1.2.3)
  field_streams.py poc1 OUT [FRAMES]     32x32 progressive frames, pic_order_cnt_type 1
                                         (offset_for_ref_frame [4], offset_for_non_ref_pic
                                         -2): after the IDR, each reference frame is
                                         followed in decode order by a non-reference frame
                                         presented before it (POC 0, 4, 2, 8, 6, ...); all
                                         I_PCM, each frame its own shade, so the order of the
                                         decoded pictures shows the presentation order

The fields are real pictures FFmpeg decodes: ground truth (frame count, keyframes) comes
from ffprobe. The second field of an IDR frame is a non-IDR I field (nal_unit_type 1).
"""
import sys

W_MBS, FIELD_H_MBS = 4, 2  # 64 px wide; each field 2 macroblock rows, the frame 64 px
LOG2_FRAME_NUM, LOG2_POC_LSB = 4, 8


def ue(v):
    b = bin(v + 1)[2:]
    return "0" * (len(b) - 1) + b


def se(v):
    return ue(2 * v - 1 if v > 0 else -2 * v)


def u(v, n):
    return format(v, f"0{n}b") if n else ""


def rbsp_to_ebsp(b):
    out, zeros = bytearray(), 0
    for x in b:
        if zeros >= 2 and x <= 3:
            out.append(3)
            zeros = 0
        out.append(x)
        zeros = zeros + 1 if x == 0 else 0
    return bytes(out)


def nal(header, bits, raw_tail=b""):
    """A NAL unit with start code: header byte, bits (+ raw byte-aligned tail), trailing."""
    if raw_tail:
        bits += "0" * (-len(bits) % 8)
    body = bytes(int(bits[i : i + 8], 2) for i in range(0, len(bits) - len(bits) % 8, 8))
    rest = bits[len(bits) - len(bits) % 8 :]
    if raw_tail:
        body += raw_tail
        rest = ""
    rest += "1"
    rest += "0" * (-len(rest) % 8)
    body += bytes(int(rest[i : i + 8], 2) for i in range(0, len(rest), 8))
    return b"\x00\x00\x00\x01" + bytes([header]) + rbsp_to_ebsp(body)


def sps():
    bits = u(77, 8) + u(0, 8) + u(30, 8) + ue(0)
    bits += ue(LOG2_FRAME_NUM - 4) + ue(0) + ue(LOG2_POC_LSB - 4)
    bits += ue(4) + "0"  # max_num_ref_frames, gaps_in_frame_num_value_allowed_flag
    bits += ue(W_MBS - 1) + ue(FIELD_H_MBS - 1)  # map units: field macroblock rows
    bits += "0" + "0" + "1"  # frame_mbs_only 0, mb_adaptive_frame_field 0, direct_8x8 1
    bits += "0"  # frame_cropping_flag
    # VUI: timing only, 25 frames/s (50 fields: num_units_in_tick 1, time_scale 50).
    bits += "1" + "0" * 4 + "1" + u(1, 32) + u(50, 32) + "1" + "0" * 4
    return nal(0x67, bits)


def pps():
    bits = ue(0) + ue(0) + "0" + "0" + ue(0) + ue(0) + ue(0) + "0" + u(0, 2)
    bits += se(0) + se(0) + se(0) + "0" + "0" + "0"
    return nal(0x68, bits)


def field(frame, bottom, intra, idr):
    """One field picture: a single slice covering its macroblocks."""
    slice_type = 7 if intra else 5  # I or P, all slices of the picture the same type
    bits = ue(0) + ue(slice_type) + ue(0)
    bits += u(0 if intra else 1, LOG2_FRAME_NUM)  # PrevRefFrameNum + 1 for non-reference
    bits += "1" + ("1" if bottom else "0")  # field_pic_flag, bottom_field_flag
    if idr:
        bits += ue(frame // 10 % 2)  # idr_pic_id
    bits += u((2 * frame + bottom) % (1 << LOG2_POC_LSB), LOG2_POC_LSB)
    if not intra:
        bits += "0" + "0"  # num_ref_idx_active_override_flag, ref_pic_list_modification_flag_l0
    if intra:
        bits += "00" if idr else "0"  # dec_ref_pic_marking (reference fields only)
    bits += se(0)  # slice_qp_delta
    mbs = W_MBS * FIELD_H_MBS
    header = 0x65 if idr else (0x61 if intra else 0x01)
    if not intra:
        return nal(header, bits + ue(mbs))  # mb_skip_run: every macroblock skipped
    # Every macroblock I_PCM: mb_type 25, alignment, 256 luma + 128 chroma samples.
    shade = 40 + (frame * 7) % 180
    out_bits, tail = bits, b""
    for mb in range(mbs):
        out_bits += ue(25)
        out_bits += "0" * (-len(out_bits) % 8)
        samples = bytes([shade + mb * 2] * 256 + [128] * 128)
        if mb + 1 < mbs:
            out_bits += "".join(f"{x:08b}" for x in samples)
        else:
            tail = samples
    return nal(header, out_bits, tail)


def poc1_sps():
    bits = u(77, 8) + u(0, 8) + u(30, 8) + ue(0)
    bits += ue(LOG2_FRAME_NUM - 4) + ue(1)  # pic_order_cnt_type 1
    bits += "1" + se(-2) + se(0) + ue(1) + se(4)  # always_zero, non-ref, top-bottom, cycle
    bits += ue(2) + "0" + ue(1) + ue(1)  # refs, gaps, 2x2 macroblocks
    bits += "1" + "1" + "0"  # frame_mbs_only, direct_8x8, no cropping
    bits += "1" + "0" * 4 + "1" + u(1, 32) + u(50, 32) + "1" + "0" * 3  # VUI timing 25 fps
    # bitstream_restriction: one frame of reordering, two in the DPB.
    bits += "1" + "1" + ue(0) + ue(0) + ue(16) + ue(16) + ue(1) + ue(2)
    return nal(0x67, bits)


def poc1_frame(index):
    """Decode-order frame `index`: IDR, then reference and non-reference frames in turn."""
    idr, reference = index == 0, index % 2 == 1 or index == 0
    # A non-reference frame takes PrevRefFrameNum + 1 (7.4.3), as the next reference does.
    frame_num = 0 if idr else ((index + 1) // 2 if reference else index // 2 + 1)
    frame_num %= 1 << LOG2_FRAME_NUM
    bits = ue(0) + ue(7) + ue(0) + u(frame_num, LOG2_FRAME_NUM)
    if idr:
        bits += ue(0)  # idr_pic_id
    if reference:
        bits += "00" if idr else "0"  # dec_ref_pic_marking
    bits += se(0)
    shade = 30 + (index * 13) % 190
    out_bits = bits
    tail = b""
    for mb in range(4):
        out_bits += ue(25)
        out_bits += "0" * (-len(out_bits) % 8)
        samples = bytes([shade] * 256 + [128] * 128)
        if mb < 3:
            out_bits += "".join(f"{x:08b}" for x in samples)
        else:
            tail = samples
    header = 0x65 if idr else (0x61 if reference else 0x01)
    return nal(header, out_bits, tail)


def poc1_stream(frames):
    out = bytearray(poc1_sps() + pps())
    for i in range(frames):
        out += poc1_frame(i)
    return bytes(out)


def stream(frames, aud):
    out = bytearray()
    for f in range(frames):
        intra = f % 10 == 0
        for bottom in (0, 1):
            if aud:
                out += nal(0x09, u(0 if intra else 1, 3))  # primary_pic_type I or I/P
            if f == 0 and bottom == 0:
                out += sps() + pps()
            out += field(f, bottom, intra, idr=intra and bottom == 0)
    return bytes(out)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("paff", "paff-aud", "poc1"):
        sys.exit(__doc__)
    frames = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    data = poc1_stream(frames) if sys.argv[1] == "poc1" else stream(frames, sys.argv[1] == "paff-aud")
    with open(sys.argv[2], "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
