//! The whole-file SHA-256 a FileListResponse and a FileRequest acknowledgement carry, computed
//! streaming so a file of any size costs one fixed buffer.

use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// Read buffer size: large enough for sequential throughput, small enough to not matter.
const BUFFER_SIZE: usize = 256 * 1024;

/// `sha256:<64 lowercase hex digits>` of everything `source` yields.
pub(crate) fn sha256_checksum(source: &mut impl Read) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; BUFFER_SIZE];
    loop {
        let n = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_has_the_well_known_digest() {
        assert_eq!(
            sha256_checksum(&mut io::empty()).unwrap(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
