//! `wsdial`: a websocat-style client for feeds, an address checker, a local
//! exchange simulator and an offline demo.

/// `print!` to stdout that, when whoever reads it has gone (a closed pipe,
/// as `wsdial demo | head` leaves it), ends the process quietly with status 0
/// instead of panicking as `print!` does.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if write!(std::io::stdout(), $($arg)*).is_err() {
            std::process::exit(0);
        }
    }};
}

/// `println!` with `out!`'s handling of a closed stdout.
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

mod client;
mod demo;
mod exec;
mod parse;
mod record;
mod relay;
mod sim;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

/// Dial a feed (WebSocket, raw socket, broker) and print every message as a line,
/// or relay it into another connection or a database with --to.
///
/// ADDRESS is a Dial address: URL|key=value&key=value (see `wsdial parse`).
/// Each stdin line is sent as a message. Exit status: 0 after --count messages or
/// a normal end, 1 when the dial fails, 2 for bad usage, 3 when --read-timeout
/// passes with nothing received, 4 when the connection is lost for good.
///
/// `wsdial FROM --to TO` relays every message read from FROM to TO (any writable
/// address), each side reconnecting when its own address says reconnect=true.
/// While TO is down the relay stops reading FROM, whose buffer drops its oldest
/// (FROM's qsize/qbytes), counted; --stats shows relayed, dropped, unsent and
/// the reconnects of each side. A database TO (sqlite3://ticks.db?table=ticks)
/// records one row per message: received_us, source (topic or FROM's URL),
/// payload (binary as base64), is_binary; the table (default `messages`) is
/// created if missing, rows are written in batches (one INSERT each, at most 500
/// rows, within 200 ms). Ctrl-C ends a relay after TO got what it holds (exit 130).
#[derive(Parser, Debug)]
#[command(name = "wsdial", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    client: client::Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the parsed target and every option's effective value as JSON.
    Parse {
        /// The Dial address to check.
        address: String,
    },
    /// Run SQL statements on a database and print each result as a JSON line.
    ///
    /// Each result is {"columns": [...], "values": [[...], ...]} on one line
    /// ("affected" too when the statement has no rows). With no SQL argument the
    /// statements are read from stdin, each ended by `;` (not one inside quotes or
    /// comments). The first statement that fails prints its error on stderr and
    /// exits 1.
    Exec {
        /// The database's address (sqlite3://, postgres://, mysql://, clickhouse://).
        address: String,
        /// The statements, run in order; none: read them from stdin.
        sql: Vec<String>,
        /// Dial deadline in seconds (the address's timeout= wins).
        #[arg(long, value_name = "SECS", value_parser = positive_seconds)]
        timeout: Option<Duration>,
    },
    /// Run the local exchange simulator on 127.0.0.1.
    Serve(ServeArgs),
    /// Start the simulator in-process and watch three feeds heal through drops.
    Demo {
        /// How long to run.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// The simulator drops every connection after this many seconds.
        #[arg(long, default_value = "7", value_parser = seconds)]
        drop_every: Duration,
    },
}

/// Options of `wsdial serve`.
#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Port on 127.0.0.1 (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 9001)]
    port: u16,
    /// Port of the raw TCP line service (default: --port + 1, or a free one with --port 0).
    #[arg(long)]
    tcp_port: Option<u16>,
    /// Data messages per second per connection (0 = as fast as possible).
    #[arg(long, default_value_t = 20.0, value_parser = rate)]
    rate: f64,
    /// Pad every data message to at least this many bytes.
    #[arg(long, default_value_t = 0)]
    size: usize,
    /// Drop each connection after N data messages.
    #[arg(long)]
    drop_after: Option<u64>,
    /// Drop each connection after it has been up SECS seconds.
    #[arg(long, value_parser = seconds)]
    drop_every: Option<Duration>,
    /// Heartbeat period, seconds (Binance Ping, Huobi {"ping": n}).
    #[arg(long, default_value = "5", value_parser = seconds)]
    ping_every: Duration,
    /// Huobi: drop a client that has not answered a ping within SECS.
    #[arg(long, default_value = "10", value_parser = seconds)]
    pong_deadline: Duration,
    /// Exit stream: one exit_signal every N pnl_update messages.
    #[arg(long, default_value_t = 100)]
    exit_every: u64,
    /// Number data messages from the simulator's start at --rate, the same for
    /// every connection (as an exchange's update ids), instead of from 0 per
    /// connection: a client's gaps and repeats across connections show.
    #[arg(long)]
    global_seq: bool,
}

/// How binary messages are printed.
#[derive(ValueEnum, Clone, Copy, Debug, Default)]
pub enum BinaryFormat {
    /// Base64, one line per message.
    #[default]
    Base64,
    /// Lowercase hex, one line per message.
    Hex,
    /// The bytes as they are, then a newline.
    Raw,
}

/// A command-line time in seconds (`1.5`): finite and not negative.
fn seconds(s: &str) -> Result<Duration, String> {
    s.trim()
        .parse::<f64>()
        .ok()
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .ok_or_else(|| {
            format!("`{s}` is not a time in seconds (a number such as 1.5, not negative)")
        })
}

/// Like [`seconds`], and more than zero.
fn positive_seconds(s: &str) -> Result<Duration, String> {
    match seconds(s)? {
        d if d.is_zero() => Err(format!("`{s}` must be more than 0 seconds")),
        d => Ok(d),
    }
}

/// Messages per second: a finite number, 0 or more (0 = as fast as possible).
fn rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a rate (messages per second, 0 or more)"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let verbosity = cli.client.verbose;
    let level = match verbosity {
        // The demo prints its own disconnect lines.
        0 if matches!(cli.command, Some(Command::Demo { .. })) => log::LevelFilter::Error,
        0 => log::LevelFilter::Warn,
        1 => log::LevelFilter::Info,
        2 => log::LevelFilter::Debug,
        _ => log::LevelFilter::Trace,
    };
    env_logger::Builder::new()
        .filter_level(level)
        .parse_env("WSDIAL_LOG")
        .init();
    let result = match cli.command {
        Some(Command::Parse { address }) => parse::run(&address),
        Some(Command::Exec {
            address,
            sql,
            timeout,
        }) => exec::run(&address, sql, timeout),
        Some(Command::Serve(a)) => serve(a),
        Some(Command::Demo {
            seconds,
            drop_every,
        }) => demo::run(Duration::from_secs(seconds), drop_every),
        None => client::run(cli.client),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // `wsdial … | head`: the reader went away; that is a normal end.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("wsdial: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn serve(a: ServeArgs) -> anyhow::Result<u8> {
    if a.global_seq && a.rate == 0.0 {
        eprintln!("wsdial: --global-seq needs a --rate above 0 (messages per second)");
        return Ok(2);
    }
    let cfg = sim::SimConfig {
        rate: a.rate,
        size: a.size,
        drop_after: a.drop_after,
        drop_every: a.drop_every,
        ping_every: a.ping_every,
        pong_deadline: a.pong_deadline,
        exit_every: a.exit_every,
        global_seq: a.global_seq,
        ..sim::SimConfig::default()
    };
    let sim = sim::Sim::start(SocketAddr::from(([127, 0, 0, 1], a.port)), cfg.clone())?;
    let tcp_port = a.tcp_port.unwrap_or(if a.port == 0 {
        0
    } else {
        a.port.wrapping_add(1)
    });
    let tcp = sim::start_tcp_service(SocketAddr::from(([127, 0, 0, 1], tcp_port)))?;
    // A server must not die because whoever started it stopped reading its
    // stdout (println! panics on a closed pipe): write, and ignore errors.
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "wsdial serve: listening on ws://{}", sim.addr);
    let _ = writeln!(out, "  raw tcp line service on tcp://{tcp}");
    let _ = writeln!(
        out,
        "  /binance  /huobi  /okx  /exit-stream (x-api-key: {})  /zigquant?token={}  /echo",
        cfg.api_key, cfg.token
    );
    let _ = out.flush();
    drop(out);
    // Serve until killed.
    loop {
        std::thread::park();
    }
}
