//! The writer's count on a disk that fills.

use super::*;

/// A disk that takes `room` bytes, then is full.
struct SmallDisk {
    room: usize,
    kept: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Write for SmallDisk {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut kept = self.kept.lock().expect("lock");
        let n = buf.len().min(self.room - kept.len());
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"));
        }
        kept.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn on_a_full_disk_the_count_is_what_reached_the_file_whole() {
    let kept = Arc::new(std::sync::Mutex::new(Vec::new()));
    let disk = SmallDisk {
        room: 5_000,
        kept: kept.clone(),
    };
    let sink: Box<dyn Write + Send> = Box::new(disk);
    let writer = CaptureWriter::new(
        BufWriter::with_capacity(1 << 20, sink),
        &CaptureHeader::new(vec![]),
    )
    .expect("header");
    let (tx, rx) = channel();
    let permits = Arc::new(tokio::sync::Semaphore::new(1 << 20));
    let mut packer = crate::capture::RecordPacker::default();
    for round in 0..3 {
        let records = (0..40)
            .map(|i| packer.pack(i, 0, &format!("s.{round}.{i}"), None, None, b"payload"))
            .collect();
        let permit = permits.clone().try_acquire_many_owned(1).expect("permit");
        tx.send(Batch {
            session: 0,
            connection: 0,
            records,
            _in_flight: permit,
        })
        .expect("send");
        // Each batch is flushed before the next.
        std::thread::sleep(FLUSH_EVERY + Duration::from_millis(100));
    }
    drop(tx);
    let failure = write_all(writer, None, "c", rx, None).expect_err("the disk fills");
    let text = String::from_utf8(kept.lock().expect("lock").clone()).expect("utf8");
    let whole = text.lines().count().saturating_sub(1);
    assert!(
        failure.written <= whole as u64,
        "claimed {} with {whole} whole lines in the file",
        failure.written
    );
}
