#!/usr/bin/env bash
# Makes the bundled test media with ffmpeg (libx264 + aac) and records ffprobe's view of
# each file under truth/ as the ground truth the tests compare with.
# Deterministic settings (fixed GOP, no scene-cut, single thread) so a rerun gives the same
# frame structure. Needs ffmpeg, ffprobe, python3. Run from anywhere: ./test_videos/make.sh
set -euo pipefail
cd "$(dirname "$0")"
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
x264="-c:v libx264 -threads 1 -preset veryfast -pix_fmt yuv420p"

# 1. Baseline profile, 320x240, 25 fps, 4 s, IDR every 25 frames.
ff -f lavfi -i testsrc=size=320x240:rate=25:duration=4 $x264 -profile:v baseline \
   -x264-params keyint=25:min-keyint=25:scenecut=0 -f h264 baseline.h264
# 2. Main profile with B-frames (3), 30 fps, 10 s, IDR every 60 frames.
ff -f lavfi -i testsrc2=size=320x240:rate=30:duration=10 $x264 -profile:v main -bf 3 \
   -x264-params keyint=60:min-keyint=60:scenecut=0:b-adapt=0 -f h264 main_bframes.h264
# 3. High profile, 4 slices per frame, 320x180 (SPS cropping: coded 192 lines), 24 fps, 3 s.
ff -f lavfi -i testsrc=size=320x180:rate=24:duration=3 $x264 -profile:v high \
   -x264-params keyint=24:min-keyint=24:scenecut=0:slices=4 -f h264 high_slices.h264
# 4. Access unit delimiters before every access unit, 25 fps, 2 s.
ff -f lavfi -i testsrc=size=320x240:rate=25:duration=2 $x264 -profile:v baseline \
   -x264-params keyint=10:min-keyint=10:scenecut=0:aud=1 -f h264 aud.h264
# 5. No VUI (so no timing information): receivers assume 25 fps. 15 fps source, 2 s.
ff -f lavfi -i testsrc=size=320x240:rate=15:duration=2 $x264 -profile:v baseline \
   -x264-params keyint=15:min-keyint=15:scenecut=0 -f h264 novui.tmp.h264
python3 strip_vui.py novui.tmp.h264 novui.h264 && rm novui.tmp.h264
# 6. MP4 with H.264 (main) + AAC (48 kHz stereo), 640x360, 30 fps, 6 s; moov at the end.
ff -f lavfi -i testsrc2=size=640x360:rate=30:duration=6 -f lavfi -i sine=frequency=440:sample_rate=48000:duration=6 \
   -ac 2 $x264 -profile:v main -x264-params keyint=30:min-keyint=30:scenecut=0 \
   -c:a aac -b:a 96k -shortest av.mp4
# 7. A non-media file: 1.2 MB of seeded pseudo-random bytes.
python3 -c 'import random,sys; sys.stdout.buffer.write(random.Random(7).randbytes(1258291))' > data.bin

# Ground truth from ffprobe: packets in decode order, K flag = keyframe (IDR for raw H.264).
for f in *.h264 av.mp4; do
  ffprobe -v error -select_streams v:0 -show_packets -show_streams -of json "$f" > "truth/$f.ffprobe.json"
done
ffprobe -v error -show_format -show_streams -of json av.mp4 > truth/av.mp4.format.json
python3 - <<'PY'
import json, glob, os
for path in sorted(glob.glob("truth/*.ffprobe.json")):
    name = os.path.basename(path)[: -len(".ffprobe.json")]
    d = json.load(open(path))
    pk, st = d["packets"], d["streams"][0]
    num, den = map(int, st["r_frame_rate"].split("/"))
    truth = {
        "file": name,
        "frames": len(pk),
        "keyframe_indices": [i for i, p in enumerate(pk) if "K" in p["flags"]],
        "keyframe_byte_offsets": [int(p["pos"]) for p in pk if "K" in p["flags"]],
        "width": st["width"],
        "height": st["height"],
        "frame_rate": num / den,
        "profile": st.get("profile"),
        "level": st.get("level"),
    }
    json.dump(truth, open(f"truth/{name}.json", "w"), indent=1)
    os.remove(path)
PY
ls -l . truth

# 8. A level too small for the picture size (level 1.0 for 320x240, as many real encoders
#    write): ffprobe reads it; h264-reader's level check refuses it (D71).
python3 slice_streams.py level baseline.h264 low_level.h264 10
ffprobe -v error -select_streams v:0 -show_packets -show_streams -of json low_level.h264 \
  > truth/low_level.h264.ffprobe.json
python3 - <<'PY'
import json, os
path = "truth/low_level.h264.ffprobe.json"
d = json.load(open(path))
pk, st = d["packets"], d["streams"][0]
num, den = map(int, st["r_frame_rate"].split("/"))
json.dump({
    "file": "low_level.h264", "frames": len(pk),
    "keyframe_indices": [i for i, p in enumerate(pk) if "K" in p["flags"]],
    "keyframe_byte_offsets": [int(p["pos"]) for p in pk if "K" in p["flags"]],
    "width": st["width"], "height": st["height"], "frame_rate": num / den,
    "profile": st.get("profile"), "level": st.get("level"),
}, open("truth/low_level.h264.json", "w"), indent=1)
os.remove(path)
PY

# 9. Slice order and redundant pictures (slices/): Baseline, 4 slices per picture, 25 fps,
#    2 s, made into arbitrary slice order and redundant pictures by slice_streams.py. FFmpeg
#    implements neither (its parser and decoder start a picture at macroblock 0), so the
#    truth is the source's: the generator keeps every picture, in order.
ff -f lavfi -i testsrc=size=320x240:rate=25:duration=2 $x264 -profile:v baseline \
   -x264-params keyint=25:min-keyint=25:scenecut=0:slices=4 -f h264 slices/source.tmp.h264
python3 slice_streams.py aso slices/source.tmp.h264 slices/aso.h264
python3 slice_streams.py redundant slices/source.tmp.h264 slices/redundant.h264
ffprobe -v error -select_streams v:0 -show_entries packet=flags:stream=width,height \
  -of json slices/source.tmp.h264 > slices/source.tmp.json
python3 - <<'PY'
import json
d = json.load(open("slices/source.tmp.json"))
pk, st = d["packets"], d["streams"][0]
truth = {
    "frames": len(pk),
    "keyframe_indices": [i for i, p in enumerate(pk) if "K" in p["flags"]],
    "width": st["width"], "height": st["height"],
}
for name in ("aso", "redundant"):
    json.dump(dict(truth, file=f"{name}.h264"), open(f"slices/{name}.h264.json", "w"), indent=1)
PY
rm slices/source.tmp.h264 slices/source.tmp.json
