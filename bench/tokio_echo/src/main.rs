//! tokio_echo: the Tokio peer of the benchmark, in the shape of Tokio's own echo example: a
//! current_thread runtime, `accept` in a loop and `tokio::spawn` per connection, `read_buf` +
//! `write_all` until end of stream. Also echoes UDP datagrams on the same port (`recv_from` +
//! `send_to`). Like the C++ peers, a connection reads into its own 64 KiB buffer, left
//! uninitialised (`read_buf` fills a `Vec`'s spare capacity), and UDP has one buffer.
//! --timeout S: every read races `tokio::time::timeout`, and a connection silent for S seconds is
//! closed (the timeout scenario's Tokio peer). --threads N: N current_thread runtimes, one per
//! thread, each with its own listener and UDP socket on the port (SO_REUSEPORT), the shape of
//! asio_coro_echo --threads N.
//! Run: tokio_echo [--host H] [--port 0] [--timeout S] [--threads N]
//! Prints: "listening on 127.0.0.1:PORT". SIGINT/SIGTERM end it (their default action).
//! SPDX-License-Identifier: MIT

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::process::exit;
use std::thread;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream, UdpSocket};
use tokio::runtime::{Builder, Runtime};
use tokio::time;

const BUFFER: usize = 64 * 1024;
const BACKLOG: u32 = 4096; // SOMAXCONN, as the C++ peers' listen()

async fn echo(mut stream: TcpStream) {
    let mut buf = Vec::with_capacity(BUFFER);
    loop {
        buf.clear();
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return, // end of stream (or a reset): the connection is over
            Ok(_) => {}
        }
        if stream.write_all(&buf).await.is_err() {
            return;
        }
    }
}

async fn echo_with_timeout(mut stream: TcpStream, timeout: Duration) {
    let mut buf = Vec::with_capacity(BUFFER);
    loop {
        buf.clear();
        match time::timeout(timeout, stream.read_buf(&mut buf)).await {
            Err(_) => return, // silent for too long: close
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
        }
        if stream.write_all(&buf).await.is_err() {
            return;
        }
    }
}

async fn echo_datagrams(socket: UdpSocket) {
    let mut buf = vec![0u8; BUFFER];
    loop {
        if let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let _ = socket.send_to(&buf[..n], from).await; // UDP: a lost echo is the client's to notice
        }
    }
}

async fn serve(listener: TcpListener, udp: UdpSocket, timeout: Option<Duration>) {
    tokio::spawn(echo_datagrams(udp));
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                match timeout {
                    None => tokio::spawn(echo(stream)),
                    Some(t) => tokio::spawn(echo_with_timeout(stream, t)),
                };
            }
            // Out of descriptors (EMFILE): the pending connection stays; wait instead of spinning.
            Err(_) => time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// One event loop's sockets on `port` (0: any), with SO_REUSEPORT when several loops share it.
/// Runs inside the loop's runtime (`Runtime::enter`): the sockets register with its reactor.
fn open_loop(host: IpAddr, port: u16, reuse_port: bool) -> io::Result<(TcpListener, UdpSocket)> {
    let at = SocketAddr::new(host, port);
    let tcp = if at.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    tcp.set_reuseaddr(true)?;
    if reuse_port {
        tcp.set_reuseport(true)?;
    }
    tcp.bind(at)?;
    let listener = tcp.listen(BACKLOG)?;
    let at = listener.local_addr()?; // the real port: UDP takes the same one
    let udp = socket2::Socket::new(socket2::Domain::for_address(at), socket2::Type::DGRAM, None)?;
    if reuse_port {
        udp.set_reuse_port(true)?;
    }
    udp.set_nonblocking(true)?;
    udp.bind(&at.into())?;
    Ok((listener, UdpSocket::from_std(udp.into())?))
}

struct Args {
    host: IpAddr,
    port: u16,
    timeout: Option<Duration>,
    threads: usize,
}

fn usage_error(message: &str) -> ! {
    eprintln!("tokio_echo: {message}\nusage: tokio_echo [--host H] [--port P] [--timeout S] [--threads N]");
    exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        host: IpAddr::from([127, 0, 0, 1]),
        port: 0,
        timeout: None,
        threads: 1,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let value = argv.next().unwrap_or_else(|| usage_error("missing value"));
        match flag.as_str() {
            "--host" => args.host = value.parse().unwrap_or_else(|_| usage_error("bad host")),
            "--port" => args.port = value.parse().unwrap_or_else(|_| usage_error("bad port")),
            "--timeout" => {
                let seconds: f64 = value.parse().unwrap_or_else(|_| usage_error("bad timeout"));
                args.timeout = (seconds > 0.0).then(|| Duration::from_secs_f64(seconds));
            }
            "--threads" => match value.parse() {
                Ok(n @ 1..=256) => args.threads = n,
                _ => usage_error("--threads needs 1 to 256"),
            },
            _ => usage_error("unknown option"),
        }
    }
    args
}

fn main() {
    let args = parse_args();
    let mut loops: Vec<(Runtime, TcpListener, UdpSocket)> = Vec::new();
    let mut port = args.port;
    for _ in 0..args.threads {
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| {
                eprintln!("tokio_echo: runtime: {e}");
                exit(1)
            });
        let opened = {
            let _inside = runtime.enter();
            open_loop(args.host, port, args.threads > 1)
        };
        let (listener, udp) = opened.unwrap_or_else(|e| {
            eprintln!("tokio_echo: {}: {e}", SocketAddr::new(args.host, port));
            exit(1)
        });
        port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        loops.push((runtime, listener, udp));
    }
    // "listening on 127.0.0.1:41537" ("[::1]:41537"); stdout is line-buffered: the runner waits for it.
    println!("listening on {}", SocketAddr::new(args.host, port));

    let timeout = args.timeout;
    let mut loops = loops.into_iter();
    let (first, listener, udp) = loops.next().expect("at least one loop");
    for (runtime, listener, udp) in loops {
        thread::spawn(move || runtime.block_on(serve(listener, udp, timeout)));
    }
    first.block_on(serve(listener, udp, timeout));
}
