//! On-disk layout and crash-safe publication of the index.
//!
//! ```text
//! dir/LOCK                         advisory lock held while an HnswIndex is open
//! dir/CURRENT                      "gen-<N>\n": the one published generation
//! dir/gen-<N>/vectors.bin          keys, documents and normalized vectors, CRC32-checked (source of truth)
//! dir/gen-<N>/graph.usearch        the HNSW graph (optional; its length and CRC32 are in vectors.bin)
//! ```
//!
//! Publishing generation N writes and fsyncs both files in a fresh `gen-N` directory, fsyncs that directory
//! and `dir`, then replaces `CURRENT` atomically (write `CURRENT.tmp`, fsync, rename, fsync `dir`) and only
//! then removes older generations. A crash before the rename leaves the previous `CURRENT` and an
//! unreferenced directory, which the next open removes; after it, the new generation is complete. So a
//! reader sees the old state or the new one, never a mix.
//!
//! `vectors.bin` (all integers little-endian):
//! `magic "RAGDVEC1" | format u32 | dimensions u32 | count u64 | graph_len u64 | graph_crc u32 | flags u32 |
//! keys count*u64 | documents count*u64 | vectors count*dimensions*f32 | crc32 of everything before u32`.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use crate::VectorError;
use crate::store::VectorStore;

pub(crate) const CURRENT: &str = "CURRENT";
const CURRENT_TMP: &str = "CURRENT.tmp";
pub(crate) const LOCK: &str = "LOCK";
pub(crate) const VECTORS_FILE: &str = "vectors.bin";
pub(crate) const GRAPH_FILE: &str = "graph.usearch";
const GENERATION_PREFIX: &str = "gen-";

const MAGIC: &[u8; 8] = b"RAGDVEC1";
const FORMAT: u32 = 1;
const HEADER_LEN: u64 = 8 + 4 + 4 + 8 + 8 + 4 + 4;
const FLAG_GRAPH: u32 = 1;
const IO_CHUNK: usize = 1 << 20;

/// Length and CRC32 of a graph file, recorded in `vectors.bin` so a torn or foreign graph is detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileDigest {
    pub(crate) len: u64,
    pub(crate) crc: u32,
}

pub(crate) fn generation_dir(root: &Path, generation: u64) -> PathBuf {
    root.join(format!("{GENERATION_PREFIX}{generation:016}"))
}

fn parse_generation(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(GENERATION_PREFIX)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The published generation, or `None` when nothing was ever published.
pub(crate) fn read_current(root: &Path) -> Result<Option<u64>, VectorError> {
    let path = root.join(CURRENT);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
        Err(error) if error.kind() == ErrorKind::InvalidData => {
            return Err(VectorError::corrupt(&path, "not UTF-8"));
        }
        Err(source) => return Err(VectorError::Io { path, source }),
    };
    let name = text.strip_suffix('\n').unwrap_or(&text);
    match parse_generation(name) {
        Some(generation) => Ok(Some(generation)),
        None => Err(VectorError::corrupt(
            &path,
            format!("expected `gen-<number>`, found {name:?}"),
        )),
    }
}

/// Removes what a crashed or superseded publication left behind: `CURRENT.tmp` and every generation
/// directory other than `keep`. Returns the highest generation number seen (kept or removed).
pub(crate) fn remove_stale(root: &Path, keep: Option<u64>) -> Result<u64, VectorError> {
    let mut highest = keep.unwrap_or(0);
    let tmp = root.join(CURRENT_TMP);
    match fs::remove_file(&tmp) {
        Ok(()) => tracing::info!(path = %tmp.display(), "removed unpublished vector index pointer"),
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(source) => return Err(VectorError::Io { path: tmp, source }),
    }
    for entry in fs::read_dir(root).map_err(VectorError::io(root))? {
        let entry = entry.map_err(VectorError::io(root))?;
        let Some(generation) = entry.file_name().to_str().and_then(parse_generation) else {
            continue;
        };
        highest = highest.max(generation);
        if Some(generation) != keep {
            remove_generation(root, generation);
        }
    }
    Ok(highest)
}

/// Best-effort removal of an unreferenced generation (a leftover only costs disk until the next open).
pub(crate) fn remove_generation(root: &Path, generation: u64) {
    let dir = generation_dir(root, generation);
    match fs::remove_dir_all(&dir) {
        Ok(()) => tracing::debug!(path = %dir.display(), "removed stale vector index generation"),
        Err(error) if error.kind() == ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(path = %dir.display(), %error, "cannot remove stale vector index generation")
        }
    }
}

/// Atomically points `CURRENT` at `generation` (whose files must already be durable).
pub(crate) fn publish_current(root: &Path, generation: u64) -> Result<(), VectorError> {
    let tmp = root.join(CURRENT_TMP);
    let mut file = File::create(&tmp).map_err(VectorError::io(&tmp))?;
    writeln!(file, "{GENERATION_PREFIX}{generation:016}").map_err(VectorError::io(&tmp))?;
    file.sync_all().map_err(VectorError::io(&tmp))?;
    drop(file);
    let current = root.join(CURRENT);
    fs::rename(&tmp, &current).map_err(VectorError::io(&current))?;
    sync_dir(root)
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), VectorError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(VectorError::io(dir))
}

pub(crate) fn sync_file(path: &Path) -> Result<(), VectorError> {
    File::open(path)
        .and_then(|file| file.sync_all())
        .map_err(VectorError::io(path))
}

/// Length and CRC32 of a file, streamed.
pub(crate) fn digest_file(path: &Path) -> Result<FileDigest, VectorError> {
    let mut file = File::open(path).map_err(VectorError::io(path))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buffer = vec![0u8; IO_CHUNK];
    let mut len = 0u64;
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(VectorError::Io {
                    path: path.into(),
                    source,
                });
            }
        };
        hasher.update(&buffer[..read]);
        len += read as u64;
    }
    Ok(FileDigest {
        len,
        crc: hasher.finalize(),
    })
}

/// Writes and fsyncs `vectors.bin`.
pub(crate) fn write_vectors_file(
    path: &Path,
    store: &VectorStore,
    dimensions: usize,
    graph: Option<FileDigest>,
) -> Result<(), VectorError> {
    let file = File::create(path).map_err(VectorError::io(path))?;
    let mut out = ChecksummedWriter::new(file);
    let graph_digest = graph.unwrap_or(FileDigest { len: 0, crc: 0 });
    let dimensions_u32 = u32::try_from(dimensions)
        .map_err(|_| VectorError::InvalidOptions(format!("{dimensions} dimensions is too many")))?;
    out.put(MAGIC);
    out.put(&FORMAT.to_le_bytes());
    out.put(&dimensions_u32.to_le_bytes());
    out.put(&(store.len() as u64).to_le_bytes());
    out.put(&graph_digest.len.to_le_bytes());
    out.put(&graph_digest.crc.to_le_bytes());
    out.put(&(if graph.is_some() { FLAG_GRAPH } else { 0 }).to_le_bytes());
    for key in store.keys() {
        out.put(&key.to_le_bytes());
    }
    for document in store.documents() {
        out.put(&document.to_le_bytes());
    }
    for component in store.vectors() {
        out.put(&component.to_le_bytes());
    }
    out.finish().map_err(VectorError::io(path))
}

/// What `vectors.bin` holds.
pub(crate) struct VectorsFile {
    pub(crate) store: VectorStore,
    pub(crate) graph: Option<FileDigest>,
}

/// Reads and verifies `vectors.bin`: a torn, truncated or bit-flipped file is `Corrupt`; a file of another
/// dimensionality is `DimensionMismatch`.
pub(crate) fn read_vectors_file(
    path: &Path,
    dimensions: usize,
) -> Result<VectorsFile, VectorError> {
    let file = File::open(path).map_err(VectorError::io(path))?;
    let actual_len = file.metadata().map_err(VectorError::io(path))?.len();
    if actual_len < HEADER_LEN + 4 {
        return Err(VectorError::corrupt(
            path,
            format!("{actual_len} bytes is shorter than the header"),
        ));
    }
    let mut input = ChecksummedReader::new(file);
    let io = VectorError::io;
    let mut header = [0u8; HEADER_LEN as usize];
    input.take(&mut header).map_err(io(path))?;
    if &header[..8] != MAGIC {
        return Err(VectorError::corrupt(path, "bad magic number"));
    }
    let format = u32_at(&header, 8);
    if format != FORMAT {
        return Err(VectorError::corrupt(
            path,
            format!("unknown format version {format}"),
        ));
    }
    let file_dimensions = u32_at(&header, 12) as usize;
    let count = u64_at(&header, 16);
    let graph_len = u64_at(&header, 24);
    let graph_crc = u32_at(&header, 32);
    let flags = u32_at(&header, 36);

    let expected_len =
        (count as u128) * (16 + 4 * file_dimensions as u128) + u128::from(HEADER_LEN) + 4;
    if expected_len != u128::from(actual_len) {
        return Err(VectorError::corrupt(
            path,
            format!(
                "{actual_len} bytes, but the header announces {count} vectors of {file_dimensions} dimensions ({expected_len} bytes)"
            ),
        ));
    }
    // The length check bounds `count` by the file size, so these allocations are sane.
    let count = count as usize;
    let keys = input.take_u64s(count).map_err(io(path))?;
    let documents = input.take_u64s(count).map_err(io(path))?;
    let vectors = input.take_f32s(count * file_dimensions).map_err(io(path))?;
    let computed = input.hasher.clone().finalize();
    let mut trailer = [0u8; 4];
    input.inner.read_exact(&mut trailer).map_err(io(path))?;
    if u32::from_le_bytes(trailer) != computed {
        return Err(VectorError::corrupt(path, "checksum mismatch"));
    }
    if file_dimensions != dimensions {
        return Err(VectorError::DimensionMismatch {
            expected: dimensions,
            found: file_dimensions,
        });
    }
    let store = VectorStore::from_columns(dimensions, keys, documents, vectors)
        .map_err(|key| VectorError::corrupt(path, format!("key {key} appears twice")))?;
    let graph = (flags & FLAG_GRAPH != 0).then_some(FileDigest {
        len: graph_len,
        crc: graph_crc,
    });
    Ok(VectorsFile { store, graph })
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Buffers writes in large blocks, hashing each block once.
struct ChecksummedWriter {
    file: File,
    buffer: Vec<u8>,
    hasher: crc32fast::Hasher,
    error: Option<std::io::Error>,
}

impl ChecksummedWriter {
    fn new(file: File) -> Self {
        ChecksummedWriter {
            file,
            buffer: Vec::with_capacity(IO_CHUNK),
            hasher: crc32fast::Hasher::new(),
            error: None,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= IO_CHUNK {
            self.flush_block();
        }
    }

    fn flush_block(&mut self) {
        self.hasher.update(&self.buffer);
        if self.error.is_none()
            && let Err(error) = self.file.write_all(&self.buffer)
        {
            self.error = Some(error);
        }
        self.buffer.clear();
    }

    /// Writes the buffered tail and the checksum, then fsyncs.
    fn finish(mut self) -> std::io::Result<()> {
        self.flush_block();
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        let crc = self.hasher.clone().finalize();
        self.file.write_all(&crc.to_le_bytes())?;
        self.file.sync_all()
    }
}

/// Reads exact-length blocks, hashing them.
struct ChecksummedReader {
    inner: std::io::BufReader<File>,
    hasher: crc32fast::Hasher,
    block: Vec<u8>,
}

impl ChecksummedReader {
    fn new(file: File) -> Self {
        ChecksummedReader {
            inner: std::io::BufReader::with_capacity(IO_CHUNK, file),
            hasher: crc32fast::Hasher::new(),
            block: Vec::new(),
        }
    }

    fn take(&mut self, into: &mut [u8]) -> std::io::Result<()> {
        self.inner.read_exact(into)?;
        self.hasher.update(into);
        Ok(())
    }

    /// Reads `count` little-endian values of `WIDTH` bytes each, block by block.
    fn take_values<const WIDTH: usize, T>(
        &mut self,
        count: usize,
        decode: impl Fn([u8; WIDTH]) -> T,
    ) -> std::io::Result<Vec<T>> {
        let mut values = Vec::with_capacity(count);
        let mut remaining = count * WIDTH;
        let mut block = std::mem::take(&mut self.block);
        while remaining > 0 {
            let len = remaining.min(IO_CHUNK - IO_CHUNK % WIDTH);
            block.resize(len, 0);
            self.take(&mut block)?;
            let (chunks, _) = block.as_chunks::<WIDTH>();
            values.extend(chunks.iter().map(|bytes| decode(*bytes)));
            remaining -= len;
        }
        self.block = block;
        Ok(values)
    }

    fn take_u64s(&mut self, count: usize) -> std::io::Result<Vec<u64>> {
        self.take_values(count, u64::from_le_bytes)
    }

    fn take_f32s(&mut self, count: usize) -> std::io::Result<Vec<f32>> {
        self.take_values(count, f32::from_le_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::normalized;

    fn sample_store() -> VectorStore {
        let mut store = VectorStore::new(3);
        store.upsert(7, 1, &normalized(&[1.0, 2.0, 3.0]));
        store.upsert(9, 2, &normalized(&[0.0, 0.0, 1.0]));
        store
    }

    #[test]
    fn vectors_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VECTORS_FILE);
        let digest = FileDigest {
            len: 42,
            crc: 0xdead_beef,
        };
        write_vectors_file(&path, &sample_store(), 3, Some(digest)).unwrap();
        let file = read_vectors_file(&path, 3).unwrap();
        assert_eq!(file.graph, Some(digest));
        assert_eq!(file.store.keys(), &[7, 9]);
        assert_eq!(file.store.documents(), &[1, 2]);
        assert_eq!(file.store.vectors(), sample_store().vectors());
    }

    #[test]
    fn every_single_byte_flip_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VECTORS_FILE);
        write_vectors_file(&path, &sample_store(), 3, None).unwrap();
        let original = fs::read(&path).unwrap();
        for at in 0..original.len() {
            let mut bytes = original.clone();
            bytes[at] ^= 0x10;
            fs::write(&path, &bytes).unwrap();
            let result = read_vectors_file(&path, 3);
            assert!(
                matches!(result, Err(VectorError::Corrupt { .. })),
                "flip at byte {at} went unnoticed"
            );
        }
        for len in 0..original.len() {
            fs::write(&path, &original[..len]).unwrap();
            assert!(matches!(
                read_vectors_file(&path, 3),
                Err(VectorError::Corrupt { .. })
            ));
        }
    }

    #[test]
    fn dimension_mismatch_is_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(VECTORS_FILE);
        write_vectors_file(&path, &sample_store(), 3, None).unwrap();
        assert!(matches!(
            read_vectors_file(&path, 4),
            Err(VectorError::DimensionMismatch {
                expected: 4,
                found: 3
            })
        ));
    }

    #[test]
    fn current_pointer_round_trips_and_rejects_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_current(dir.path()).unwrap(), None);
        publish_current(dir.path(), 12).unwrap();
        assert_eq!(read_current(dir.path()).unwrap(), Some(12));
        fs::write(dir.path().join(CURRENT), "gen-\n").unwrap();
        assert!(matches!(
            read_current(dir.path()),
            Err(VectorError::Corrupt { .. })
        ));
    }

    #[test]
    fn remove_stale_keeps_only_the_current_generation() {
        let dir = tempfile::tempdir().unwrap();
        for generation in [3, 4, 5] {
            fs::create_dir(generation_dir(dir.path(), generation)).unwrap();
        }
        fs::write(dir.path().join(CURRENT_TMP), "gen-5\n").unwrap();
        fs::create_dir(dir.path().join("unrelated")).unwrap();
        assert_eq!(remove_stale(dir.path(), Some(4)).unwrap(), 5);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, vec!["gen-0000000000000004", "unrelated"]);
    }
}
