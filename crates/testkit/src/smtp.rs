//! A small SMTP server on 127.0.0.1 that accepts every message and keeps it, so tests read
//! codes out of what Gatehouse really sent over the wire (RFC 5321: greeting, EHLO/HELO,
//! MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT).

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The whole message as sent (headers and body).
    pub data: String,
}

impl ReceivedMail {
    pub fn subject(&self) -> String {
        self.data
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap_or_default()
            .to_string()
    }

    /// The six-digit code of a sign-in mail: a line that is six digits and nothing else.
    pub fn code(&self) -> Option<String> {
        self.text()
            .lines()
            .map(str::trim)
            .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
    }

    pub fn body(&self) -> &str {
        self.data
            .split_once("\r\n\r\n")
            .map_or("", |(_, body)| body)
    }

    /// The body as a person reads it: quoted-printable (RFC 2045 §6.7) decoded when the
    /// message says it is so encoded.
    pub fn text(&self) -> String {
        let headers = self.data.split_once("\r\n\r\n").map_or("", |(h, _)| h);
        if !headers
            .to_ascii_lowercase()
            .contains("content-transfer-encoding: quoted-printable")
        {
            return self.body().to_string();
        }
        let joined = self.body().replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'=', Some(value)) => {
                    out.push(value);
                    i += 3;
                }
                (byte, _) => {
                    out.push(byte);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<ReceivedMail>>>,
    /// Recipients refused with a permanent 550, as a server with no such mailbox answers.
    refused: Arc<Mutex<Vec<String>>>,
}

impl SmtpSink {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&received);
        let refusing = Arc::clone(&refused);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = Arc::clone(&store);
                let refusing = Arc::clone(&refusing);
                tokio::spawn(async move {
                    let _ = serve(stream, store, refusing).await;
                });
            }
        });
        Self {
            port,
            received,
            refused,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// From now on, mail to `address` bounces: `RCPT TO` gets a permanent 550.
    pub fn refuse(&self, address: &str) {
        self.refused
            .lock()
            .unwrap()
            .push(address.to_ascii_lowercase());
    }

    pub fn all(&self) -> Vec<ReceivedMail> {
        self.received.lock().unwrap().clone()
    }

    pub fn to(&self, address: &str) -> Vec<ReceivedMail> {
        self.all()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address)))
            .collect()
    }

    /// Waits (up to 10 s) until `address` has received more than `already` messages and
    /// returns the newest.
    pub async fn wait_for_new(&self, address: &str, already: usize) -> ReceivedMail {
        for _ in 0..200 {
            let mails = self.to(address);
            if mails.len() > already {
                return mails.last().cloned().unwrap();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no new mail for {address} within 10 s (had {already})");
    }

    /// The code of the newest sign-in mail to `address` after the first `already` mails.
    pub async fn wait_for_code(&self, address: &str, already: usize) -> String {
        let mail = self.wait_for_new(address, already).await;
        mail.code()
            .unwrap_or_else(|| panic!("mail without a code: {}", mail.data))
    }
}

async fn serve(
    stream: TcpStream,
    store: Arc<Mutex<Vec<ReceivedMail>>>,
    refused: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 testkit ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-testkit\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
            b"250 ok\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address_of(&command[10..]);
            to.clear();
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let address = address_of(&command[8..]);
            if refused
                .lock()
                .unwrap()
                .contains(&address.to_ascii_lowercase())
            {
                b"550 5.1.1 no such mailbox here\r\n"
            } else {
                to.push(address);
                b"250 ok\r\n"
            }
        } else if upper == "DATA" {
            write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // Dot-unstuffing (RFC 5321 §4.5.2).
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            store.lock().unwrap().push(ReceivedMail {
                from: from.clone(),
                to: to.clone(),
                data,
            });
            b"250 queued\r\n"
        } else if upper.starts_with("RSET") {
            to.clear();
            b"250 ok\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

fn address_of(argument: &str) -> String {
    let trimmed = argument.trim();
    let inner = trimmed
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(trimmed, |(address, _)| address);
    inner.to_string()
}
