//! `stsd`: the sample descriptions, which name the codec (the entry's four-character code)
//! and carry the video size, the audio format and the decoder configuration (`avcC`, `esds`).
//!
//! Whether an entry is a visual or an audio sample entry depends on the track's handler,
//! which `stsd` cannot see; so entries keep their (small) bodies and are decoded as visual
//! or audio by the caller that knows the handler.

use super::super::super::super::atom::{decode_atom, Atom, Body, FourCC, Strictness};
use crate::media::MediaError;

/// `stsd`: the sample description box.
#[derive(Debug, Clone)]
pub(crate) struct Stsd {
    pub(crate) entries: Vec<SampleEntry>,
}

/// One sample description: its format code and undecoded body.
#[derive(Debug, Clone)]
pub(crate) struct SampleEntry {
    pub(crate) format: FourCC,
    body: Vec<u8>,
}

impl Atom for Stsd {
    const KIND: FourCC = FourCC(*b"stsd");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        body.full_box()?;
        // Each entry is a box of at least 8 bytes.
        let count = body.entry_count(8)?;
        let mut entries = Vec::with_capacity(count);
        for child in body.children().take(count) {
            let (format, data) = child?;
            entries.push(SampleEntry {
                format,
                body: data.to_vec(),
            });
        }
        if entries.len() != count {
            return Err(body.error("fewer sample entries than entry_count"));
        }
        Ok(Stsd { entries })
    }
}

/// A visual sample entry (ISO 14496-12 `VisualSampleEntry`) and its codec configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VisualSampleEntry {
    pub(crate) width: u16,
    pub(crate) height: u16,
    pub(crate) avcc: Option<AvcC>,
}

/// An audio sample entry (ISO `AudioSampleEntry` or QuickTime sound description v0-v2).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AudioSampleEntry {
    pub(crate) channelcount: u16,
    pub(crate) samplerate: f64,
    /// `objectTypeIndication` of the `esds` decoder configuration, when present.
    pub(crate) object_type_indication: Option<u8>,
    /// The `esds` DecoderSpecificInfo (for AAC: the AudioSpecificConfig), when present.
    pub(crate) decoder_specific_info: Option<Vec<u8>>,
}

impl SampleEntry {
    /// Decodes the body as a visual sample entry.
    pub(crate) fn visual(&self, strictness: Strictness) -> Result<VisualSampleEntry, MediaError> {
        let mut body = Body::new(self.format, &self.body);
        // reserved(6), data_reference_index, pre_defined, reserved, pre_defined[3].
        body.skip(6 + 2 + 2 + 2 + 12)?;
        let width = body.u16()?;
        let height = body.u16()?;
        // horizresolution, vertresolution, reserved, frame_count, compressorname, depth,
        // pre_defined.
        body.skip(4 + 4 + 4 + 2 + 32 + 2 + 2)?;
        let mut avcc = None;
        for child in body.children() {
            let (kind, data) = child?;
            if kind == AvcC::KIND && avcc.is_none() {
                avcc = Some(decode_atom(data, strictness)?);
            }
        }
        Ok(VisualSampleEntry {
            width,
            height,
            avcc,
        })
    }

    /// Decodes the body as an audio sample entry.
    pub(crate) fn audio(&self) -> Result<AudioSampleEntry, MediaError> {
        let mut body = Body::new(self.format, &self.body);
        body.skip(6 + 2)?;
        let version = body.u16()?;
        body.skip(2 + 4)?; // revision, vendor
        let mut channelcount = body.u16()?;
        let _samplesize = body.u16()?;
        body.skip(2 + 2)?; // compression_id, packet_size
        let mut samplerate = f64::from(body.u32()? >> 16);
        match version {
            0 => {}
            1 => body.skip(16)?,
            2 => {
                let _size_of_struct = body.u32()?;
                samplerate = f64::from_bits(body.u64()?);
                channelcount = u16::try_from(body.u32()?).unwrap_or(u16::MAX);
                body.skip(20)?;
            }
            _ => return Err(body.error("unknown sound description version")),
        }
        let esds = find_esds(&mut body)?;
        Ok(AudioSampleEntry {
            channelcount,
            samplerate,
            object_type_indication: esds.as_ref().map(|e| e.0),
            decoder_specific_info: esds.and_then(|e| e.1),
        })
    }
}

/// The `objectTypeIndication` of an `esds` and its DecoderSpecificInfo, when present.
type EsdsConfig = (u8, Option<Vec<u8>>);

/// Finds `esds` among the children (or inside a QuickTime `wave`) and returns its OTI and
/// decoder-specific info.
fn find_esds(body: &mut Body<'_>) -> Result<Option<EsdsConfig>, MediaError> {
    for child in body.children() {
        let (kind, data) = child?;
        if kind == FourCC(*b"esds") {
            return Ok(esds_config(data));
        }
        if kind == FourCC(*b"wave") {
            let mut wave = Body::new(kind, data);
            if let Some(config) = find_esds(&mut wave)? {
                return Ok(Some(config));
            }
        }
    }
    Ok(None)
}

/// The `objectTypeIndication` of an `esds` body and its DecoderSpecificInfo (tag 0x05), or
/// `None` if the OTI cannot be found. A damaged descriptor only loses the codec refinement
/// (and frame mode's audio track), so it is not an error.
fn esds_config(data: &[u8]) -> Option<EsdsConfig> {
    let mut body = Body::new(FourCC(*b"esds"), data);
    body.full_box().ok()?;
    let (tag, _) = descriptor_header(&mut body)?;
    if tag != 0x03 {
        return None;
    }
    body.u16().ok()?; // ES_ID
    let flags = body.u8().ok()?;
    if flags & 0x80 != 0 {
        body.u16().ok()?; // dependsOn_ES_ID
    }
    if flags & 0x40 != 0 {
        let len = body.u8().ok()?;
        body.skip(usize::from(len)).ok()?;
    }
    if flags & 0x20 != 0 {
        body.u16().ok()?; // OCR_ES_Id
    }
    let (tag, _) = descriptor_header(&mut body)?;
    if tag != 0x04 {
        return None;
    }
    let oti = body.u8().ok()?;
    // streamType/upStream/reserved, bufferSizeDB (24 bits), maxBitrate, avgBitrate.
    let info = body.skip(1 + 3 + 4 + 4).ok().and_then(|()| {
        let (tag, size) = descriptor_header(&mut body)?;
        (tag == 0x05)
            .then(|| body.bytes(size as usize).ok().map(<[u8]>::to_vec))
            .flatten()
    });
    Some((oti, info))
}

/// A descriptor tag and its size (up to four 7-bit groups).
fn descriptor_header(body: &mut Body<'_>) -> Option<(u8, u32)> {
    let tag = body.u8().ok()?;
    let mut size = 0u32;
    for _ in 0..4 {
        let byte = body.u8().ok()?;
        size = (size << 7) | u32::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Some((tag, size));
        }
    }
    Some((tag, size))
}

/// `avcC`: the AVC decoder configuration record (ISO/IEC 14496-15 5.3.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AvcC {
    pub(crate) avc_profile_indication: u8,
    pub(crate) profile_compatibility: u8,
    pub(crate) avc_level_indication: u8,
    /// Bytes of each NAL unit length in the samples (1, 2 or 4); 0 when the record stops
    /// after the level (then the parameter set lists are empty too).
    pub(crate) nal_length_size: u8,
    /// The sequence and picture parameter set NAL units, as stored. A truncated list keeps
    /// the sets read before the cut.
    pub(crate) sps: Vec<Vec<u8>>,
    pub(crate) pps: Vec<Vec<u8>>,
}

impl Atom for AvcC {
    const KIND: FourCC = FourCC(*b"avcC");

    fn decode_body(body: &mut Body<'_>, _: Strictness) -> Result<Self, MediaError> {
        let _configuration_version = body.u8()?;
        let avc_profile_indication = body.u8()?;
        let profile_compatibility = body.u8()?;
        let avc_level_indication = body.u8()?;
        let mut avcc = AvcC {
            avc_profile_indication,
            profile_compatibility,
            avc_level_indication,
            nal_length_size: 0,
            sps: Vec::new(),
            pps: Vec::new(),
        };
        // Only frame mode needs the rest; a damaged tail loses that, not the file.
        let _ = avcc.read_parameter_sets(body);
        let _ = body.rest();
        Ok(avcc)
    }
}

impl AvcC {
    fn read_parameter_sets(&mut self, body: &mut Body<'_>) -> Result<(), MediaError> {
        let length_size = (body.u8()? & 3) + 1;
        let sps_count = body.u8()? & 0x1f;
        read_sets(body, sps_count, &mut self.sps)?;
        self.nal_length_size = length_size;
        let pps_count = body.u8()?;
        read_sets(body, pps_count, &mut self.pps)
    }
}

/// `count` parameter sets, each a 16-bit length and its bytes.
fn read_sets(body: &mut Body<'_>, count: u8, out: &mut Vec<Vec<u8>>) -> Result<(), MediaError> {
    for _ in 0..count {
        let len = body.u16()?;
        out.push(body.bytes(usize::from(len))?.to_vec());
    }
    Ok(())
}

impl AvcC {
    /// The profile name as ffprobe prints it (`Main`, `High`, `Constrained Baseline`, ...).
    pub(crate) fn profile_name(&self) -> String {
        let constraint_set1 = self.profile_compatibility & 0x40 != 0;
        let constraint_set3 = self.profile_compatibility & 0x10 != 0;
        match self.avc_profile_indication {
            66 if constraint_set1 => "Constrained Baseline".into(),
            66 => "Baseline".into(),
            77 => "Main".into(),
            88 => "Extended".into(),
            100 => "High".into(),
            110 if constraint_set3 => "High 10 Intra".into(),
            110 => "High 10".into(),
            122 if constraint_set3 => "High 4:2:2 Intra".into(),
            122 => "High 4:2:2".into(),
            244 if constraint_set3 => "High 4:4:4 Intra".into(),
            244 => "High 4:4:4 Predictive".into(),
            44 => "CAVLC 4:4:4".into(),
            other => format!("profile {other}"),
        }
    }

    /// The level written `major.minor` (`level_idc` 30 is `3.0`; 11 with constraint_set3 in
    /// Baseline/Main/Extended is `1b`).
    pub(crate) fn level_name(&self) -> String {
        let constraint_set3 = self.profile_compatibility & 0x10 != 0;
        let low_profile = matches!(self.avc_profile_indication, 66 | 77 | 88);
        match self.avc_level_indication {
            11 if constraint_set3 && low_profile => "1b".into(),
            9 => "1b".into(),
            idc => format!("{}.{}", idc / 10, idc % 10),
        }
    }
}

/// The codec name for a sample entry format, refined by the `esds` object type for `mp4a`.
pub(crate) fn codec_name(format: FourCC, object_type_indication: Option<u8>) -> String {
    let name = match &format.0 {
        b"avc1" | b"avc2" | b"avc3" | b"avc4" => "H.264",
        b"hvc1" | b"hev1" => "H.265",
        b"vvc1" | b"vvi1" => "H.266",
        b"av01" => "AV1",
        b"vp08" => "VP8",
        b"vp09" => "VP9",
        b"mp4v" => "MPEG-4 Visual",
        b"s263" | b"h263" => "H.263",
        b"jpeg" | b"mjpa" | b"mjpb" => "MJPEG",
        b"apch" | b"apcn" | b"apcs" | b"apco" | b"ap4h" => "ProRes",
        b"mp4a" => match object_type_indication {
            Some(0x69) | Some(0x6b) => "MP3",
            Some(0xa5) => "AC-3",
            Some(0xa6) => "E-AC-3",
            Some(0xad) => "Opus",
            _ => "AAC",
        },
        b".mp3" => "MP3",
        b"ac-3" => "AC-3",
        b"ec-3" => "E-AC-3",
        b"Opus" => "Opus",
        b"fLaC" => "FLAC",
        b"alac" => "ALAC",
        b"sowt" | b"twos" | b"lpcm" | b"ipcm" | b"fpcm" | b"in24" | b"in32" | b"fl32" => "PCM",
        _ => return format.to_text(),
    };
    name.to_string()
}
