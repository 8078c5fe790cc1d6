//! Line numbers for CSV records. The `csv` crate reports a wrong line for a record that follows
//! a skipped blank line — and with CRLF line ends every line is one (BurntSushi/rust-csv#208) —
//! so the report's line numbers come from here instead: a reader that passes the bytes through
//! unchanged and notes the line each non-empty record starts on, in order, following the same
//! quoting rules as the parser (a quote opens a quoted field only at the start of a field; `""`
//! inside one is an escaped quote; line ends inside quotes belong to the field).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::rc::Rc;

/// The start lines of the records the parser will return, oldest first.
pub type StartLines = Rc<RefCell<VecDeque<u64>>>;

pub struct LineTracker<R> {
    inner: R,
    starts: StartLines,
    line: u64,
    at_record_start: bool,
    at_field_start: bool,
    in_quotes: bool,
    /// A quote inside a quoted field: an escape if another quote follows, else the field's end.
    quote_pending: bool,
    /// A `\r` was the last byte: a following `\n` belongs to it.
    after_cr: bool,
}

impl<R: Read> LineTracker<R> {
    pub fn new(inner: R) -> (Self, StartLines) {
        let starts = StartLines::default();
        let tracker = Self {
            inner,
            starts: Rc::clone(&starts),
            line: 1,
            at_record_start: true,
            at_field_start: true,
            in_quotes: false,
            quote_pending: false,
            after_cr: false,
        };
        (tracker, starts)
    }

    fn observe(&mut self, byte: u8) {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        if after_cr && byte == b'\n' {
            return; // The `\n` of a `\r\n`: counted with the `\r`.
        }
        if self.quote_pending {
            self.quote_pending = false;
            if byte == b'"' {
                return; // `""`: an escaped quote; still inside the field.
            }
            self.in_quotes = false;
        }
        if byte == b'\n' || byte == b'\r' {
            self.line += 1;
            self.after_cr = byte == b'\r';
            if !self.in_quotes {
                self.at_record_start = true;
                self.at_field_start = true;
            }
            return;
        }
        if self.at_record_start {
            self.at_record_start = false;
            self.starts.borrow_mut().push_back(self.line);
        }
        if self.in_quotes {
            if byte == b'"' {
                self.quote_pending = true;
            }
            return;
        }
        match byte {
            b'"' if self.at_field_start => self.in_quotes = true,
            b',' => {
                self.at_field_start = true;
                return;
            }
            _ => {}
        }
        self.at_field_start = false;
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.observe(b);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line, first field) of every record the csv crate returns, lines from the tracker.
    fn lines_of(data: &str) -> Vec<(u64, String)> {
        let (reader, starts) = LineTracker::new(data.as_bytes());
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(reader);
        let mut out = Vec::new();
        let mut record = csv::StringRecord::new();
        while csv.read_record(&mut record).unwrap() {
            let line = starts.borrow_mut().pop_front().unwrap();
            out.push((line, record[0].to_owned()));
        }
        assert!(starts.borrow().is_empty(), "one start per record");
        out
    }

    #[test]
    fn blank_lines_crlf_and_quoted_line_ends_keep_the_count_right() {
        let data = "h,x\n2,a\n\n\n5,b\n\"6\",\"multi\nline\"\n8,c\r\n\r\n10,d\r\n11,\"say \"\"hi\"\"\r\n\"\n  \n14\r15,e";
        let want: Vec<(u64, String)> = [
            (1, "h"),
            (2, "2"),
            (5, "5"),
            (6, "6"),
            (8, "8"),
            (10, "10"),
            (11, "11"),
            (13, "  "),
            (14, "14"),
            (15, "15"),
        ]
        .into_iter()
        .map(|(l, f)| (l, f.to_owned()))
        .collect();
        assert_eq!(lines_of(data), want);
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_a_plain_character() {
        assert_eq!(
            lines_of("a\"b,c\nd\n"),
            [(1, "a\"b".to_owned()), (2, "d".to_owned())]
        );
    }

    #[test]
    fn the_tracker_agrees_when_bytes_arrive_one_at_a_time() {
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((&first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = first;
                self.0 = rest;
                Ok(1)
            }
        }
        let data = "p\r\n\r\n\"x\"\"\r\n\",1\r\n3";
        let (reader, starts) = LineTracker::new(OneByte(data.as_bytes()));
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(reader);
        let lines: Vec<u64> = csv
            .records()
            .map(|r| {
                r.unwrap();
                starts.borrow_mut().pop_front().unwrap()
            })
            .collect();
        assert_eq!(lines, [1, 3, 5]);
    }
}
