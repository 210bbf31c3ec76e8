//! Guest stdout/stderr → `tracing`, line-buffered and capped.
//!
//! wasmtime-wasi's `MemoryOutputPipe` traps the guest when full; this pipe
//! never blocks and never fails the guest: past [`MAX_CAPTURED_OUTPUT_BYTES`]
//! it drops bytes and logs once that it did.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::MAX_CAPTURED_OUTPUT_BYTES;

#[derive(Default)]
struct Shared {
    line: Vec<u8>,
    total: usize,
    truncated: bool,
    /// The last [`TAIL_BYTES`] written, for error messages (a panic message).
    tail: Vec<u8>,
}

/// How much of a stream's most recent output is kept for error messages: 1 KiB.
const TAIL_BYTES: usize = 1024;

/// A capped, line-buffered pipe from one guest stream to the host log.
#[derive(Clone)]
pub struct LogPipe {
    plugin: Arc<str>,
    stream: &'static str,
    shared: Arc<Mutex<Shared>>,
}

impl LogPipe {
    pub fn new(plugin: Arc<str>, stream: &'static str) -> Self {
        LogPipe {
            plugin,
            stream,
            shared: Arc::default(),
        }
    }

    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches(['\r', '\n']);
        tracing::info!(plugin = %self.plugin, stream = self.stream, "{text}");
    }

    /// The most recent output (up to 1 KiB) as written, lines kept (for a
    /// guest's own traceback).
    pub fn tail_text(&self) -> String {
        match self.shared.lock() {
            Ok(s) => String::from_utf8_lossy(&s.tail).into_owned(),
            Err(_) => String::new(),
        }
    }

    /// The most recent output (up to 1 KiB), trimmed, as one line of text.
    pub fn tail(&self) -> String {
        match self.shared.lock() {
            Ok(s) => String::from_utf8_lossy(&s.tail).trim().replace('\n', " | "),
            Err(_) => String::new(),
        }
    }

    fn write(&self, buf: &[u8]) {
        let Ok(mut s) = self.shared.lock() else {
            return;
        };
        s.tail
            .extend_from_slice(&buf[buf.len().saturating_sub(TAIL_BYTES)..]);
        if s.tail.len() > TAIL_BYTES {
            let cut = s.tail.len() - TAIL_BYTES;
            s.tail.drain(..cut);
        }
        let room = MAX_CAPTURED_OUTPUT_BYTES.saturating_sub(s.total);
        let take = buf.len().min(room);
        s.total += take;
        for &b in &buf[..take] {
            s.line.push(b);
            if b == b'\n' {
                let line = std::mem::take(&mut s.line);
                self.emit(&line);
            }
        }
        if take < buf.len() && !s.truncated {
            s.truncated = true;
            if !s.line.is_empty() {
                let line = std::mem::take(&mut s.line);
                self.emit(&line);
            }
            tracing::warn!(
                plugin = %self.plugin,
                stream = self.stream,
                "plugin output truncated after {MAX_CAPTURED_OUTPUT_BYTES} bytes"
            );
        }
    }
}

impl Drop for LogPipe {
    fn drop(&mut self) {
        // The last clone flushes an unterminated line.
        if Arc::strong_count(&self.shared) == 1
            && let Ok(mut s) = self.shared.lock()
            && !s.line.is_empty()
        {
            let line = std::mem::take(&mut s.line);
            drop(s);
            self.emit(&line);
        }
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for LogPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
