//! Envelope encryption of attachments, with no I/O.
//!
//! Every file gets a fresh 256-bit data key. Its content is cut into fixed
//! segments of [`SEGMENT`] bytes, and each segment is sealed with
//! AES-256-GCM in the STREAM construction (`aead-stream`, 32-bit big-endian
//! counter plus a last-segment flag in the nonce). The attachment id and the
//! segment's index are the associated data of every segment. So swapping two
//! objects, reordering, dropping or appending segments, or flipping any byte
//! makes decryption fail. Any segment can be opened on its own, so a byte
//! range costs only its segments, and memory stays bounded whatever the size.
//!
//! The data key is stored wrapped by a key-encryption key (KEK) named by an
//! id, with the attachment id bound in. Keys rotate by re-wrapping, and the
//! objects are never rewritten.

use std::sync::Arc;

use aead_stream::{NewStream, StreamBE32, StreamPrimitive};
use aes_gcm::aead::{Aead, Buffer, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

/// Plaintext bytes per segment.
pub const SEGMENT: usize = 64 * 1024;
/// Bytes an AES-GCM tag adds to every segment.
pub const TAG: usize = 16;
/// Object layout: magic, version, segment size, STREAM nonce prefix.
const MAGIC: &[u8; 4] = b"AMBE";
const VERSION: u8 = 1;
const PREFIX: usize = 7;
pub const HEADER: usize = 4 + 1 + 4 + PREFIX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the object is not an Ambito envelope or was written with unknown settings")]
    Header,
    #[error("a segment failed authentication: the object was altered, swapped or truncated")]
    Segment,
    #[error("the data key cannot be unwrapped with this key-encryption key")]
    Unwrap,
    #[error("the file is larger than an envelope can hold")]
    TooLarge,
}

/// A key-encryption key and the id it is known by.
#[derive(Clone)]
pub struct Kek {
    pub id: String,
    key: Key<Aes256Gcm>,
}

impl Kek {
    pub fn new(id: impl Into<String>, bytes: [u8; 32]) -> Kek {
        Kek { id: id.into(), key: bytes.into() }
    }

    /// A fresh random key.
    pub fn generate(id: impl Into<String>) -> Kek {
        Kek::new(id, random())
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kek").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A file's data key, wrapped: what the database stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    pub kek_id: String,
    /// 12-byte nonce followed by the sealed key.
    pub bytes: Vec<u8>,
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source");
    b
}

fn wrap_aad(attachment: &[u8; 16], kek_id: &str) -> Vec<u8> {
    [attachment.as_slice(), kek_id.as_bytes()].concat()
}

/// The keys and nonce of one file, for sealing and opening its segments.
#[derive(Clone)]
pub struct Envelope {
    attachment: [u8; 16],
    data_key: [u8; 32],
    prefix: [u8; PREFIX],
    /// The cipher keyed once per object, not once per segment.
    stream: Arc<StreamBE32<Aes256Gcm>>,
}

impl Envelope {
    fn build(attachment: [u8; 16], data_key: [u8; 32], prefix: [u8; PREFIX]) -> Envelope {
        let stream = Arc::new(StreamBE32::new(&data_key.into(), &prefix.into()));
        Envelope { attachment, data_key, prefix, stream }
    }

    /// A new file: fresh data key and nonce prefix.
    pub fn new(attachment: [u8; 16]) -> Envelope {
        Envelope::build(attachment, random(), random())
    }

    /// Opens an existing file from its wrapped key and the object's header.
    pub fn open(
        attachment: [u8; 16],
        wrapped: &WrappedKey,
        kek: &Kek,
        header: &[u8],
    ) -> Result<Envelope, EnvelopeError> {
        let data_key = unwrap_key(attachment, wrapped, kek)?;
        Ok(Envelope::build(attachment, data_key, parse_header(header)?))
    }

    /// The object's first bytes.
    pub fn header(&self) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[..4].copy_from_slice(MAGIC);
        h[4] = VERSION;
        h[5..9].copy_from_slice(&(SEGMENT as u32).to_be_bytes());
        h[9..].copy_from_slice(&self.prefix);
        h
    }

    /// Opens a file's data key with a fresh nonce prefix, to seal another
    /// object of it: a part of a resumed upload, or the object its parts
    /// are joined into. A fresh prefix per object means no nonce is ever
    /// used twice, even when a client sends different bytes on a retry.
    pub fn reseal(attachment: [u8; 16], wrapped: &WrappedKey, kek: &Kek) -> Result<Envelope, EnvelopeError> {
        Ok(Envelope::build(attachment, unwrap_key(attachment, wrapped, kek)?, random()))
    }

    /// The same data key under a fresh nonce prefix, for a new object of the file.
    pub fn fresh(&self) -> Envelope {
        Envelope::build(self.attachment, self.data_key, random())
    }

    /// Another object of the same file: its header gives the nonce prefix.
    pub fn with_header(&self, header: &[u8]) -> Result<Envelope, EnvelopeError> {
        Ok(Envelope::build(self.attachment, self.data_key, parse_header(header)?))
    }

    /// The data key wrapped under `kek`, with the attachment id bound in.
    pub fn wrap(&self, kek: &Kek) -> WrappedKey {
        wrap_key(self.attachment, &self.data_key, kek)
    }

    fn aad(&self, index: u32) -> [u8; 20] {
        let mut a = [0u8; 20];
        a[..16].copy_from_slice(&self.attachment);
        a[16..].copy_from_slice(&index.to_be_bytes());
        a
    }

    /// Seals segment `index` (at most [`SEGMENT`] bytes; the last may be shorter or empty).
    pub fn seal(&self, index: u32, last: bool, plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + TAG);
        self.seal_onto(index, last, plaintext, &mut out);
        out
    }

    /// Seals segment `index` onto the end of `out`, encrypting in place
    /// there: the plaintext is copied once, into the object's bytes.
    pub fn seal_onto(&self, index: u32, last: bool, plaintext: &[u8], out: &mut Vec<u8>) {
        debug_assert!(plaintext.len() <= SEGMENT);
        let start = out.len();
        out.extend_from_slice(plaintext);
        self.stream
            .encrypt_in_place(index, last, &self.aad(index), &mut Tail { vec: out, start })
            .expect("AES-GCM sealing cannot fail");
    }

    /// Opens segment `index`; fails unless it is exactly what was sealed there.
    pub fn unseal(&self, index: u32, last: bool, ciphertext: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
        let mut plain = ciphertext.to_vec();
        let len = self.unseal_in_place(index, last, &mut plain)?;
        plain.truncate(len);
        Ok(plain)
    }

    /// Opens segment `index` where it lies, leaving its plaintext at the
    /// start of `segment` and returning its length; fails unless it is
    /// exactly what was sealed there.
    pub fn unseal_in_place(&self, index: u32, last: bool, segment: &mut [u8]) -> Result<usize, EnvelopeError> {
        let mut buffer = Fixed { len: segment.len(), bytes: segment };
        self.stream.decrypt_in_place(index, last, &self.aad(index), &mut buffer).map_err(|_| EnvelopeError::Segment)?;
        Ok(buffer.len)
    }
}

/// The end of a vector, from `start`, as a buffer sealed in place.
struct Tail<'a> {
    vec: &'a mut Vec<u8>,
    start: usize,
}

impl AsRef<[u8]> for Tail<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.vec[self.start..]
    }
}

impl AsMut<[u8]> for Tail<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.vec[self.start..]
    }
}

impl Buffer for Tail<'_> {
    fn extend_from_slice(&mut self, other: &[u8]) -> aes_gcm::aead::Result<()> {
        self.vec.extend_from_slice(other);
        Ok(())
    }

    fn truncate(&mut self, len: usize) {
        self.vec.truncate(self.start + len);
    }
}

/// A segment opened where it lies: it can only shrink (the tag is dropped).
struct Fixed<'a> {
    bytes: &'a mut [u8],
    len: usize,
}

impl AsRef<[u8]> for Fixed<'_> {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl AsMut<[u8]> for Fixed<'_> {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.bytes[..self.len]
    }
}

impl Buffer for Fixed<'_> {
    fn extend_from_slice(&mut self, _: &[u8]) -> aes_gcm::aead::Result<()> {
        Err(aes_gcm::aead::Error)
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

fn parse_header(h: &[u8]) -> Result<[u8; PREFIX], EnvelopeError> {
    if h.len() < HEADER || &h[..4] != MAGIC || h[4] != VERSION || h[5..9] != (SEGMENT as u32).to_be_bytes() {
        return Err(EnvelopeError::Header);
    }
    Ok(h[9..HEADER].try_into().expect("length checked"))
}

fn wrap_key(attachment: [u8; 16], data_key: &[u8; 32], kek: &Kek) -> WrappedKey {
    let nonce: [u8; 12] = random();
    let sealed = Aes256Gcm::new(&kek.key)
        .encrypt(&Nonce::from(nonce), Payload { msg: data_key, aad: &wrap_aad(&attachment, &kek.id) })
        .expect("AES-GCM sealing cannot fail");
    WrappedKey { kek_id: kek.id.clone(), bytes: [nonce.as_slice(), &sealed].concat() }
}

fn unwrap_key(attachment: [u8; 16], wrapped: &WrappedKey, kek: &Kek) -> Result<[u8; 32], EnvelopeError> {
    if wrapped.kek_id != kek.id || wrapped.bytes.len() != 12 + 32 + TAG {
        return Err(EnvelopeError::Unwrap);
    }
    let nonce: [u8; 12] = wrapped.bytes[..12].try_into().expect("length checked");
    let key = Aes256Gcm::new(&kek.key)
        .decrypt(&Nonce::from(nonce), Payload { msg: &wrapped.bytes[12..], aad: &wrap_aad(&attachment, &kek.id) })
        .map_err(|_| EnvelopeError::Unwrap)?;
    key.try_into().map_err(|_| EnvelopeError::Unwrap)
}

/// Re-wraps a data key under a new KEK without touching the object.
pub fn rewrap(attachment: [u8; 16], wrapped: &WrappedKey, old: &Kek, new: &Kek) -> Result<WrappedKey, EnvelopeError> {
    let data_key = unwrap_key(attachment, wrapped, old)?;
    Ok(wrap_key(attachment, &data_key, new))
}

/// Segments of a file of `size` bytes: an empty file still has one (empty, last) segment.
pub fn segments(size: u64) -> u64 {
    size.div_ceil(SEGMENT as u64).max(1)
}

/// Bytes of the object for a file of `size` bytes.
pub fn object_len(size: u64) -> u64 {
    HEADER as u64 + size + segments(size) * TAG as u64
}

/// A small file sealed whole in memory, header and all: what a stored
/// answer of an idempotent mutation is kept as.
pub fn seal_whole(env: &Envelope, plaintext: &[u8]) -> Vec<u8> {
    let n = segments(plaintext.len() as u64) as usize;
    let mut out = Vec::with_capacity(object_len(plaintext.len() as u64) as usize);
    out.extend_from_slice(&env.header());
    for i in 0..n {
        let chunk = plaintext.get(i * SEGMENT..((i + 1) * SEGMENT).min(plaintext.len())).unwrap_or_default();
        env.seal_onto(i as u32, i + 1 == n, chunk, &mut out);
    }
    out
}

/// Opens what [`seal_whole`] sealed, with the envelope opened from its
/// header; fails unless it is exactly that object, whole.
pub fn open_whole(env: &Envelope, object: &[u8]) -> Result<Vec<u8>, EnvelopeError> {
    let body = object.len().checked_sub(HEADER).ok_or(EnvelopeError::Header)? as u64;
    let n = body.div_ceil((SEGMENT + TAG) as u64);
    let size = body.checked_sub(n * TAG as u64).ok_or(EnvelopeError::Segment)?;
    if n == 0 || object_len(size) != object.len() as u64 {
        return Err(EnvelopeError::Segment);
    }
    let mut out = Vec::with_capacity(size as usize);
    for i in 0..n {
        let span = segment_span(size, i);
        out.extend(env.unseal(i as u32, i + 1 == n, &object[span.start as usize..span.end as usize])?);
    }
    Ok(out)
}

/// Where segment `index` lies in the object, for a file of `size` bytes.
pub fn segment_span(size: u64, index: u64) -> std::ops::Range<u64> {
    part_span(size, 0, index)
}

/// Where segment `index` lies in an object that holds segments `first..`
/// (a part of a resumed upload), for a file of `size` bytes.
pub fn part_span(size: u64, first: u64, index: u64) -> std::ops::Range<u64> {
    let start = HEADER as u64 + (index - first) * (SEGMENT + TAG) as u64;
    start..start + segment_plain_len(size, index) as u64 + TAG as u64
}

/// The segments that hold plaintext bytes `range` (end exclusive, non-empty).
pub fn segments_for(range: &std::ops::Range<u64>) -> std::ops::RangeInclusive<u64> {
    range.start / SEGMENT as u64..=(range.end - 1) / SEGMENT as u64
}

/// Plaintext bytes of segment `index` of a file of `size` bytes.
fn segment_plain_len(size: u64, index: u64) -> usize {
    (size - (index * SEGMENT as u64).min(size)).min(SEGMENT as u64) as usize
}

/// Seals segments `first..` of a file of known size as its bytes come,
/// holding at most one segment. Its output is an object of its own: a header
/// with this envelope's nonce prefix, then the sealed segments. Knowing the
/// size, it seals each segment as soon as it is full and refuses any byte
/// beyond the size.
pub struct Sealer {
    envelope: Envelope,
    size: u64,
    first: u64,
    next: u64,
    buffer: Vec<u8>,
    started: bool,
}

impl Sealer {
    pub fn new(envelope: Envelope, size: u64, first: u64) -> Sealer {
        Sealer { envelope, size, first, next: first, buffer: Vec::with_capacity(SEGMENT), started: false }
    }

    /// Takes more plaintext and appends the object bytes now ready to
    /// `out` (the header on the first call, which seals an empty file at
    /// once). Whole segments in `bytes` are sealed straight from it.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<u8>) -> Result<(), EnvelopeError> {
        if !self.started {
            self.started = true;
            out.extend_from_slice(&self.envelope.header());
        }
        let total = segments(self.size);
        loop {
            if self.next == total {
                return if bytes.is_empty() { Ok(()) } else { Err(EnvelopeError::TooLarge) };
            }
            let want = segment_plain_len(self.size, self.next);
            let index = u32::try_from(self.next).map_err(|_| EnvelopeError::TooLarge)?;
            let last = self.next + 1 == total;
            if self.buffer.is_empty() && bytes.len() >= want {
                self.envelope.seal_onto(index, last, &bytes[..want], out);
                bytes = &bytes[want..];
            } else {
                let take = (want - self.buffer.len()).min(bytes.len());
                self.buffer.extend_from_slice(&bytes[..take]);
                bytes = &bytes[take..];
                if self.buffer.len() < want {
                    return Ok(());
                }
                self.envelope.seal_onto(index, last, &self.buffer, out);
                self.buffer.clear();
            }
            self.next += 1;
        }
    }

    /// Segments sealed so far.
    pub fn sealed(&self) -> u64 {
        self.next - self.first
    }

    /// Whether the file's last segment is sealed.
    pub fn complete(&self) -> bool {
        self.next == segments(self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: [u8; 16] = *b"attachment-0001!";

    fn seal_all(env: Envelope, data: &[u8], chunk: usize) -> Vec<u8> {
        let mut s = Sealer::new(env, data.len() as u64, 0);
        let mut out = Vec::new();
        s.push(&[], &mut out).unwrap();
        for c in data.chunks(chunk.max(1)) {
            s.push(c, &mut out).unwrap();
        }
        assert!(s.complete());
        out
    }

    fn open_all(env: &Envelope, object: &[u8], size: u64) -> Result<Vec<u8>, EnvelopeError> {
        let n = segments(size);
        let mut out = Vec::new();
        for i in 0..n {
            let span = segment_span(size, i);
            let bytes = object.get(span.start as usize..span.end as usize).ok_or(EnvelopeError::Segment)?;
            out.extend(env.unseal(i as u32, i + 1 == n, bytes)?);
        }
        if object.len() as u64 != object_len(size) {
            return Err(EnvelopeError::Segment);
        }
        Ok(out)
    }

    fn sample(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn reopen(env: &Envelope, kek: &Kek, object: &[u8]) -> Envelope {
        Envelope::open(ID, &env.wrap(kek), kek, &object[..HEADER]).unwrap()
    }

    #[test]
    fn a_whole_object_round_trips_and_refuses_any_change() {
        let kek = Kek::generate("k1");
        for size in [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT + 7] {
            let data = sample(size);
            let env = Envelope::new(ID);
            let object = seal_whole(&env, &data);
            assert_eq!(object.len() as u64, object_len(size as u64), "size {size}");
            // The same bytes as a file sealed as it streams in.
            assert_eq!(open_all(&reopen(&env, &kek, &object), &object, size as u64).unwrap(), data);
            let opened = reopen(&env, &kek, &object);
            assert_eq!(open_whole(&opened, &object).unwrap(), data, "size {size}");
            let mut flipped = object.clone();
            *flipped.last_mut().unwrap() ^= 1;
            assert_eq!(open_whole(&opened, &flipped), Err(EnvelopeError::Segment), "size {size}");
            for cut in [1, TAG, TAG + 1] {
                let short = &object[..object.len() - cut];
                assert!(open_whole(&opened, short).is_err(), "size {size} cut {cut}");
            }
        }
        let env = Envelope::new(ID);
        assert_eq!(open_whole(&env, &[0u8; 3]), Err(EnvelopeError::Header));
    }

    #[test]
    fn round_trips_every_size_and_chunking() {
        let kek = Kek::generate("k1");
        for size in [0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT + 5] {
            for chunk in [1000, SEGMENT, 7 * SEGMENT] {
                let data = sample(size);
                let env = Envelope::new(ID);
                let wrapped = env.wrap(&kek);
                let object = seal_all(env, &data, chunk);
                assert_eq!(object.len() as u64, object_len(size as u64), "size {size}");
                let opened = Envelope::open(ID, &wrapped, &kek, &object[..HEADER]).unwrap();
                assert_eq!(open_all(&opened, &object, size as u64).unwrap(), data, "size {size} chunk {chunk}");
            }
        }
    }

    #[test]
    fn sealing_in_place_keeps_the_stream_format_of_stored_objects() {
        let env = Envelope::new(ID);
        let data = sample(SEGMENT);
        let reference = StreamBE32::<Aes256Gcm>::new(&env.data_key.into(), &env.prefix.into())
            .encrypt(3, true, Payload { msg: &data, aad: &env.aad(3) })
            .unwrap();
        assert_eq!(env.seal(3, true, &data), reference);
        assert_eq!(env.unseal(3, true, &reference).unwrap(), data);
        assert_eq!(env.unseal(3, false, &reference), Err(EnvelopeError::Segment));
    }

    #[test]
    fn a_file_sealed_in_parts_opens_part_by_part_and_refuses_extra_bytes() {
        let kek = Kek::generate("k1");
        let size = 4 * SEGMENT as u64 + 9;
        let data = sample(size as usize);
        let wrapped = Envelope::new(ID).wrap(&kek);
        // Two parts, each under its own nonce prefix, split at segment 2.
        let mut parts = Vec::new();
        for (first, bytes) in [(0u64, &data[..2 * SEGMENT]), (2, &data[2 * SEGMENT..])] {
            let mut s = Sealer::new(Envelope::reseal(ID, &wrapped, &kek).unwrap(), size, first);
            let mut out = Vec::new();
            s.push(bytes, &mut out).unwrap();
            s.push(&[], &mut out).unwrap();
            assert_eq!(s.sealed(), if first == 0 { 2 } else { 3 });
            assert_eq!(s.complete(), first == 2);
            parts.push((first, out));
        }
        assert_ne!(parts[0].1[..HEADER], parts[1].1[..HEADER], "every part has a fresh nonce prefix");
        let key = Envelope::reseal(ID, &wrapped, &kek).unwrap();
        let mut plain = Vec::new();
        for (first, object) in &parts {
            let env = key.with_header(&object[..HEADER]).unwrap();
            let last = if *first == 0 { 1 } else { 4 };
            for i in *first..=last {
                let span = part_span(size, *first, i);
                plain.extend(env.unseal(i as u32, i == 4, &object[span.start as usize..span.end as usize]).unwrap());
            }
        }
        assert_eq!(plain, data);

        let mut s = Sealer::new(Envelope::new(ID), 10, 0);
        assert_eq!(s.push(&[0; 11], &mut Vec::new()).err(), Some(EnvelopeError::TooLarge));
    }

    #[test]
    fn no_plaintext_in_the_object() {
        let data = [b"%PDF-1.7\n".as_slice(), &sample(3 * SEGMENT)].concat();
        let object = seal_all(Envelope::new(ID), &data, 4096);
        assert!(!object.windows(4).any(|w| w == b"%PDF"));
    }

    #[test]
    fn tampering_swapping_reordering_and_truncation_fail() {
        let kek = Kek::generate("k1");
        let size = 3 * SEGMENT as u64 + 10;
        let data = sample(size as usize);
        let env = Envelope::new(ID);
        let object = seal_all(env.clone(), &data, 9999);
        let opened = reopen(&env, &kek, &object);

        let mut flipped = object.clone();
        flipped[HEADER + SEGMENT + 100] ^= 1;
        assert_eq!(open_all(&opened, &flipped, size), Err(EnvelopeError::Segment));

        let (a, b) = (segment_span(size, 0), segment_span(size, 1));
        let mut reordered = object.clone();
        reordered[a.start as usize..a.end as usize].copy_from_slice(&object[b.start as usize..b.end as usize]);
        reordered[b.start as usize..b.end as usize].copy_from_slice(&object[a.start as usize..a.end as usize]);
        assert_eq!(open_all(&opened, &reordered, size), Err(EnvelopeError::Segment));

        // Dropping the last segment: the new last one was not sealed as last.
        let truncated = &object[..segment_span(size, 2).end as usize];
        assert_eq!(open_all(&opened, truncated, 3 * SEGMENT as u64), Err(EnvelopeError::Segment));

        // Another attachment's object under this attachment's id.
        let other = Envelope::build(*b"attachment-0002!", env.data_key, env.prefix);
        let swapped = seal_all(other, &data, 9999);
        assert_eq!(open_all(&opened, &swapped, size), Err(EnvelopeError::Segment));
    }

    #[test]
    fn a_range_opens_only_its_segments() {
        let size = 5 * SEGMENT as u64 + 123;
        let data = sample(size as usize);
        let kek = Kek::generate("k1");
        let env = Envelope::new(ID);
        let wrapped = env.wrap(&kek);
        let object = seal_all(env, &data, SEGMENT);
        let opened = Envelope::open(ID, &wrapped, &kek, &object[..HEADER]).unwrap();
        let range = 2 * SEGMENT as u64 - 10..3 * SEGMENT as u64 + 20;
        let segs = segments_for(&range);
        assert_eq!(segs, 1..=3);
        let mut plain = Vec::new();
        for i in segs.clone() {
            let span = segment_span(size, i);
            plain.extend(
                opened
                    .unseal(i as u32, i + 1 == segments(size), &object[span.start as usize..span.end as usize])
                    .unwrap(),
            );
        }
        let offset = (range.start - segs.start() * SEGMENT as u64) as usize;
        assert_eq!(
            &plain[offset..offset + (range.end - range.start) as usize],
            &data[range.start as usize..range.end as usize]
        );
    }

    #[test]
    fn keys_rotate_by_rewrapping_and_are_bound_to_their_attachment() {
        let (old, new) = (Kek::generate("2026-01"), Kek::generate("2026-11"));
        let data = sample(SEGMENT + 7);
        let env = Envelope::new(ID);
        let wrapped = env.wrap(&old);
        let object = seal_all(env, &data, 5000);
        let rewrapped = rewrap(ID, &wrapped, &old, &new).unwrap();
        assert_eq!(rewrapped.kek_id, "2026-11");
        let opened = Envelope::open(ID, &rewrapped, &new, &object[..HEADER]).unwrap();
        assert_eq!(open_all(&opened, &object, data.len() as u64).unwrap(), data);
        assert_eq!(Envelope::open(ID, &rewrapped, &old, &object[..HEADER]).err(), Some(EnvelopeError::Unwrap));
        assert_eq!(
            Envelope::open(*b"attachment-0003!", &rewrapped, &new, &object[..HEADER]).err(),
            Some(EnvelopeError::Unwrap)
        );
        assert_eq!(Envelope::open(ID, &rewrapped, &new, b"not a header at all").err(), Some(EnvelopeError::Header));
        assert!(!format!("{new:?}").contains(&format!("{:?}", new.key)), "keys never print");
    }
}
