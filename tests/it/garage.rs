//! A real S3-compatible server for the tests: one Garage node per test run,
//! on loopback ports, with one bucket and one key. It stops, and its files
//! go, when the test process ends. A test that stops and restarts storage
//! starts a node of its own ([`Garage::start`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use ambito::storage::store::S3Settings;

static GARAGE: OnceLock<S3Settings> = OnceLock::new();

fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("AMBITO_GARAGE") {
        return p.into();
    }
    let cargo_bin = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin/garage"));
    match cargo_bin.filter(|p| p.is_file()) {
        Some(p) => p,
        None => "garage".into(),
    }
}

/// Two distinct free ports: both are held while the second is picked, or
/// the system may hand out the same one twice.
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

fn cli(config: &Path, args: &[&str]) -> String {
    let out = Command::new(binary()).arg("-c").arg(config).args(args).output().unwrap_or_else(|e| {
        panic!(
            "garage is needed for the storage tests ({e}): tests/run installs it with `cargo install --locked garage`"
        )
    });
    assert!(out.status.success(), "garage {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn field(text: &str, label: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(label))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {label} in: {text}"))
}

/// The bucket of this test run.
pub fn s3() -> S3Settings {
    GARAGE.get_or_init(|| Garage::start().leave()).clone()
}

/// A Garage node of its own: stopped and started again by the test that
/// owns it, killed when dropped (and by its watchdog if the test process dies).
pub struct Garage {
    dir: PathBuf,
    config: PathBuf,
    server: Option<Child>,
    pub settings: S3Settings,
}

impl Garage {
    /// A new node with its layout, a key and a bucket the key may use.
    pub fn start() -> Garage {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ambito-garage-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (rpc, api) = free_ports();
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).unwrap();
        let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
        let config = dir.join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\nreplication_factor = 1\n\
                 rpc_bind_addr = \"127.0.0.1:{rpc}\"\nrpc_public_addr = \"127.0.0.1:{rpc}\"\nrpc_secret = \"{secret}\"\n\n\
                 [s3_api]\ns3_region = \"garage\"\napi_bind_addr = \"127.0.0.1:{api}\"\nroot_domain = \".s3.garage.localhost\"\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let settings = S3Settings {
            endpoint: format!("http://127.0.0.1:{api}"),
            region: "garage".into(),
            bucket: "ambito-test".into(),
            access_key: String::new(),
            secret_key: String::new(),
            allow_http: true,
        };
        let mut garage = Garage { dir, config, server: None, settings };
        garage.run();
        let node = garage.node_id();
        let config = &garage.config;
        // `node id` reads the key file; the RPC port may still be opening: retry the first call that needs it.
        let assign = ["layout", "assign", "-z", "dc1", "-c", "1G", node.as_str()];
        let assigned = (0..100).any(|_| {
            let ok = Command::new(binary()).arg("-c").arg(config).args(assign).output().unwrap().status.success();
            if !ok {
                std::thread::sleep(Duration::from_millis(100));
            }
            ok
        });
        assert!(assigned, "garage did not answer on its RPC port: {}", garage.log());
        cli(config, &["layout", "show"]);
        cli(config, &["layout", "apply", "--version", "1"]);
        let key = cli(config, &["key", "create", "ambito-test"]);
        cli(config, &["bucket", "create", "ambito-test"]);
        cli(config, &["bucket", "allow", "--read", "--write", "--owner", "ambito-test", "--key", "ambito-test"]);
        garage.settings.access_key = field(&key, "Key ID:");
        garage.settings.secret_key = field(&key, "Secret key:");
        garage
    }

    /// Starts the server process over the node's files, with a watchdog
    /// that stops it and removes them when the test process is gone.
    fn run(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.log")).unwrap();
        let server = Command::new(binary())
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("starting garage: tests/run installs it with `cargo install --locked garage`");
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; kill {g} 2>/dev/null; sleep 1; rm -rf '{d}'",
            pid = std::process::id(),
            g = server.id(),
            d = self.dir.display()
        );
        Command::new("setsid").args(["-f", "sh", "-c", &script]).status().expect("starting the garage watchdog");
        self.server = Some(server);
    }

    fn node_id(&self) -> String {
        for _ in 0..100 {
            let out = Command::new(binary()).arg("-c").arg(&self.config).args(["node", "id", "-q"]).output().unwrap();
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).trim().split('@').next().unwrap_or_default().to_owned();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("garage did not start: {}", self.log())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// Kills the server process at once, as a crash or a lost machine would.
    pub fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }

    /// Starts the server again over the same files and ports, and waits
    /// until its S3 port accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
        let addr = self.settings.endpoint.trim_start_matches("http://").to_owned();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(std::time::Instant::now() < deadline, "garage did not come back: {}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Leaves the node running for the rest of the test process.
    fn leave(mut self) -> S3Settings {
        if let Some(server) = self.server.take() {
            std::mem::forget(server);
        }
        self.settings.clone()
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.kill();
    }
}
