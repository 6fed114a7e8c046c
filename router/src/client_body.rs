//! Reading a server's answer with a ceiling: vCenter, Horizon and the Kubernetes API cannot make
//! the router hold more than the caller's limit, however long the answer they send.

use crate::client_error::describe;

/// Why an answer was not read whole.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// The connection failed while the answer was read (described, without credentials).
    #[error("{0}")]
    Transport(String),
}

/// The body of `resp`, refused as soon as it is known to exceed `limit` bytes (by its
/// Content-Length, or while it streams in).
pub async fn read_capped(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, BodyError> {
    let announced = resp.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(BodyError::TooLarge { limit });
    }
    let mut out = Vec::with_capacity(announced as usize);
    while let Some(chunk) = resp.chunk().await.map_err(|e| BodyError::Transport(describe(&e)))? {
        if out.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one answer (`head` then `chunks` bytes of body in 1 KiB chunks) on loopback.
    async fn serve(head: String, chunks: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s.write_all(head.as_bytes()).await;
            for _ in 0..chunks {
                if s.write_all(&[b'x'; 1024]).await.is_err() {
                    return;
                }
            }
        });
        format!("http://{addr}/")
    }

    async fn get(url: &str) -> reqwest::Response {
        reqwest::Client::new().get(url).send().await.unwrap()
    }

    #[tokio::test]
    async fn an_answer_is_read_up_to_the_limit_and_refused_past_it() {
        let fits = serve("HTTP/1.1 200 OK\r\nContent-Length: 4096\r\n\r\n".into(), 4).await;
        assert_eq!(read_capped(get(&fits).await, 4096).await.unwrap().len(), 4096);
        // Announced too large: refused before a byte of the body is read.
        let announced = serve("HTTP/1.1 200 OK\r\nContent-Length: 5000000\r\n\r\n".into(), 0).await;
        assert!(matches!(
            read_capped(get(&announced).await, 4096).await,
            Err(BodyError::TooLarge { limit: 4096 })
        ));
        // No length, streaming on: refused once past the limit.
        let endless = serve("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".into(), 10_000).await;
        let err = read_capped(get(&endless).await, 64 << 10).await.unwrap_err();
        assert_eq!(err.to_string(), "the answer is larger than 65536 bytes");
    }
}
