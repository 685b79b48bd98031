//! Edge delivery: playlists stay per viewer and gated, but their segments point at an edge
//! (nginx, or a CDN that verifies the same way) with links signed in nginx's `secure_link`
//! format, so that segment bytes never cross Marquee. A link is
//! `{edge}{path}?md5={base64url(md5("{expires}{path} {secret}"))}&expires={expires}`, where
//! `path` is the URL path the edge sees; it expires with the stream token that asked for it.
//! The signing is nginx's own scheme, a dozen lines, so it is written here rather than taken
//! from a crate.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use md5::{Digest, Md5};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// The shortest edge secret accepted: it is all that stands between a guessed link and a film.
const MIN_SECRET_LEN: usize = 16;

/// An edge setting that cannot be used, named as the settings name it.
#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct EdgeError {
    /// `edge_url` or `edge_secret`.
    pub setting: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

fn url_error(reason: &str) -> EdgeError {
    EdgeError {
        setting: "edge_url",
        reason: reason.into(),
    }
}

/// An edge that serves the media root under a URL and checks links signed with a shared
/// secret.
#[derive(Debug, Clone)]
pub struct Edge {
    /// Scheme, host and port, e.g. `https://edge.example`.
    origin: String,
    /// The URL path the media root is served under, starting and ending with `/`.
    prefix: String,
    secret: SecretString,
}

impl Edge {
    /// An edge serving the media root at `url` (a trailing `/` is added when missing).
    pub fn new(url: &Url, secret: SecretString) -> Result<Self, EdgeError> {
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(url_error("must be an http(s) URL with a host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(url_error("must not have a query or fragment"));
        }
        if secret.expose_secret().len() < MIN_SECRET_LEN {
            return Err(EdgeError {
                setting: "edge_secret",
                reason: format!("must be at least {MIN_SECRET_LEN} characters"),
            });
        }
        let mut prefix = url.path().to_string();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        if !safe(&prefix) {
            return Err(url_error(
                "its path may hold only letters, digits and -._~/",
            ));
        }
        Ok(Edge {
            origin: url.origin().ascii_serialization(),
            prefix,
            secret,
        })
    }

    /// The URL path the media root is served under, e.g. `/media/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The signed link to `uri` (relative, maybe with a query) of the playlist in `folder` (a
    /// path under the media root ending with `/`), or `None` when the path is one the edge
    /// cannot be trusted to read the same way (`..`, characters that need escaping).
    pub fn link(&self, folder: &str, uri: &str, expires: i64) -> Option<String> {
        let mut out = String::new();
        self.append_link(&mut out, folder, uri, expires)?;
        Some(out)
    }

    /// Appends [`Edge::link`] to `out`; nothing is appended when it is `None`.
    pub fn append_link(
        &self,
        out: &mut String,
        folder: &str,
        uri: &str,
        expires: i64,
    ) -> Option<()> {
        let (path, query) = match uri.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (uri, None),
        };
        // nginx checks the decoded, normalised path: sign only paths that read the same both ways.
        let inside = format!("{folder}{path}");
        let normal = inside
            .split('/')
            .all(|step| !step.is_empty() && step != "." && step != "..");
        if !safe(&inside) || !normal {
            return None;
        }
        out.push_str(&self.origin);
        let signed_from = out.len();
        out.push_str(&self.prefix);
        out.push_str(&inside);
        let digest = sign(&out[signed_from..], expires, &self.secret);
        out.push('?');
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            out.push_str(q);
            out.push('&');
        }
        let _ = write!(out, "md5={digest}&expires={expires}");
        Some(())
    }

    /// The nginx configuration of this edge: `site` says where it listens and what it serves.
    pub fn nginx_conf(&self, site: &NginxSite) -> String {
        let location = format!(
            r#"location {prefix} {{
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires$uri {secret}";
            if ($secure_link = "") {{ return 403; }}
            if ($secure_link = "0") {{ return 410; }}
            alias {root}/;
            add_header Cache-Control "private, max-age=300" always;
            add_header Access-Control-Allow-Origin "{allow_origin}" always;
            add_header Access-Control-Expose-Headers "Content-Length, Content-Range" always;
        }}
        location / {{ return 404; }}"#,
            prefix = self.prefix,
            secret = self.secret.expose_secret(),
            root = site.media_root.display(),
            allow_origin = site.allow_origin,
        );
        nginx_conf(site, &location)
    }
}

/// An nginx configuration for `site` whose one server has `locations`: tuned as nginx serves
/// static files fastest (sendfile, no access log), everything it writes kept in the site's
/// work folder.
pub fn nginx_conf(site: &NginxSite, locations: &str) -> String {
    let user = if site.as_root { "user root;\n" } else { "" };
    format!(
        r#"# Written by Marquee.
worker_processes {workers};
{user}pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    server_tokens off;
    types {{
        application/vnd.apple.mpegurl m3u8;
        video/mp2t ts;
        video/iso.segment m4s;
        video/mp4 mp4 m4v;
        audio/mp4 m4a;
        audio/aac aac;
        text/vtt vtt webvtt;
    }}
    default_type application/octet-stream;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    server {{
        listen {listen};
        {locations}
    }}
}}
"#,
        workers = site.workers,
        work = site.work_dir.display(),
        listen = site.listen,
    )
}

/// `base64url(md5("{expires}{path} {secret}"))`, nginx's `secure_link_md5` of the
/// configuration above.
pub fn sign(path: &str, expires: i64, secret: &SecretString) -> String {
    let mut md5 = Md5::new();
    md5.update(expires.to_string());
    md5.update(path);
    md5.update(" ");
    md5.update(secret.expose_secret());
    URL_SAFE_NO_PAD.encode(md5.finalize())
}

/// Letters, digits and `-._~/`: what a URL path carries unescaped.
fn safe(path: &str) -> bool {
    path.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/'))
}

/// Where and how an edge nginx runs.
#[derive(Debug, Clone)]
pub struct NginxSite {
    /// Address it listens on.
    pub listen: SocketAddr,
    /// The media root it serves (absolute).
    pub media_root: PathBuf,
    /// Its own folder: pid, error log, temporary files, the configuration.
    pub work_dir: PathBuf,
    /// The origin that players fetch segments from (CORS), Marquee's public origin.
    pub allow_origin: String,
    /// Worker processes.
    pub workers: u32,
    /// Whether to run workers as root, for a media root only root can read (tests, benches).
    pub as_root: bool,
}

impl NginxSite {
    /// One worker on `listen` serving `media_root`, as root only when this process is root
    /// (nginx started by root would otherwise run its workers as `nobody`).
    pub fn new(
        listen: SocketAddr,
        media_root: PathBuf,
        work_dir: PathBuf,
        allow_origin: String,
    ) -> Self {
        use std::os::unix::fs::MetadataExt as _;
        let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        NginxSite {
            listen,
            media_root,
            work_dir,
            allow_origin,
            workers: 1,
            as_root,
        }
    }
}

/// An nginx process serving an edge, stopped when dropped.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    /// Its base URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
}

impl Nginx {
    /// The master process's id (its workers are its children).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Writes the configuration of `edge` for `site` into the site's work folder, starts
    /// nginx with it and waits until it accepts connections.
    pub fn start(edge: &Edge, site: &NginxSite) -> std::io::Result<Nginx> {
        Self::run(&edge.nginx_conf(site), &site.work_dir, site.listen)
    }

    /// Starts nginx with the configuration `conf` in `work_dir` and waits until it accepts
    /// connections on `listen`.
    pub fn run(conf: &str, work_dir: &Path, listen: SocketAddr) -> std::io::Result<Nginx> {
        let path = work_dir.join("nginx.conf");
        write_private(&path, conf)?;
        let program = nginx_binary()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "nginx not found"))?;
        let child = Command::new(program)
            .arg("-c")
            .arg(&path)
            .arg("-p")
            .arg(work_dir)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut nginx = Nginx {
            child,
            url: format!("http://{listen}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(listen).is_err() {
            if let Some(status) = nginx.child.try_wait()? {
                let log = std::fs::read_to_string(work_dir.join("error.log"));
                return Err(std::io::Error::other(format!(
                    "nginx exited ({status}): {}",
                    log.unwrap_or_default().trim()
                )));
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other("nginx did not listen within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(nginx)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master then takes its workers down with it.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// `nginx` from PATH, else Debian's `/usr/sbin/nginx` (sbin is not on every user's PATH);
/// `None` when neither is there.
pub fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join("nginx"))
            .find(|f| f.is_file())
    });
    let sbin = Path::new("/usr/sbin/nginx");
    on_path.or_else(|| sbin.is_file().then(|| sbin.to_path_buf()))
}

/// Writes a file only its owner can read: the configuration holds the secret.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge() -> Edge {
        Edge::new(
            &Url::parse("https://edge.example/media").unwrap(),
            SecretString::from("0123456789abcdef"),
        )
        .unwrap()
    }

    #[test]
    fn links_are_signed_as_nginx_checks_them() {
        let e = edge();
        assert_eq!(e.prefix(), "/media/");
        let link = e.link("demo/", "seg001.ts", 1_800_000_000).unwrap();
        let want = sign(
            "/media/demo/seg001.ts",
            1_800_000_000,
            &SecretString::from("0123456789abcdef"),
        );
        assert_eq!(
            link,
            format!("https://edge.example/media/demo/seg001.ts?md5={want}&expires=1800000000")
        );
        // md5("1800000000/media/demo/seg001.ts 0123456789abcdef"), by `openssl md5`.
        assert_eq!(want, "r9UR3wFZSGiNR5fUkYerIQ");
        let q = e.link("demo/low/", "seg.m4s?v=2", 5).unwrap();
        assert!(q.starts_with("https://edge.example/media/demo/low/seg.m4s?v=2&md5="));
    }

    #[test]
    fn paths_the_edge_could_read_otherwise_are_not_signed() {
        let e = edge();
        for uri in [
            "../x.ts",
            "./x.ts",
            "a/../x.ts",
            "a%2e.ts",
            "sp ace.ts",
            "/abs.ts",
            "a\\b.ts",
            "",
        ] {
            assert!(e.link("demo/", uri, 1).is_none(), "{uri}");
        }
        let secret = || SecretString::from("0123456789abcdef");
        assert!(Edge::new(&Url::parse("ftp://x/").unwrap(), secret()).is_err());
        assert!(Edge::new(&Url::parse("http://x/?a=1").unwrap(), secret()).is_err());
        assert!(
            Edge::new(
                &Url::parse("http://x/").unwrap(),
                SecretString::from("short")
            )
            .is_err()
        );
    }
}
