//! The Docker client: a `bollard` connection and the runtime that drives it.

use std::collections::HashMap;
use std::io::{self, Read};
use std::pin::Pin;
use std::time::Duration;

use bollard::query_parameters::ListContainersOptionsBuilder;
use futures_util::{Stream, StreamExt};

use super::{cgroup, Container, Error};

/// How long an image export may take: a large image is one long request.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(3600);

/// How long any other request (inspecting, listing) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the daemon may take to answer the first request.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the Docker client connects when `DOCKER_HOST` is not set.
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A connection to the Docker daemon.
pub struct Docker {
    runtime: tokio::runtime::Runtime,
    /// For inspecting and listing.
    client: bollard::Docker,
    /// For image exports, with the long timeout.
    exports: bollard::Docker,
    host: String,
}

impl std::fmt::Debug for Docker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Docker").field("host", &self.host).finish_non_exhaustive()
    }
}

impl Docker {
    /// Connects to the daemon `DOCKER_HOST` names (the local socket by
    /// default) and agrees on an API version with it.
    ///
    /// # Errors
    ///
    /// [`Error::Unreachable`], naming the socket, when no daemon answers.
    pub fn connect() -> Result<Docker, Error> {
        let host = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_string());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let unreachable = |source| Error::Unreachable { host: host.clone(), source };
        let client = bollard::Docker::connect_with_defaults().map_err(unreachable)?;
        // A daemon that accepts but never answers must not hang the command:
        // the first exchange gets a short timeout, inspecting and listing a
        // minute, and only image exports (which can be long) an hour.
        let client = runtime
            .block_on(client.with_timeout(CONNECT_TIMEOUT).negotiate_version())
            .map_err(unreachable)?;
        let exports = client.clone().with_timeout(EXPORT_TIMEOUT);
        let client = client.with_timeout(REQUEST_TIMEOUT);
        Ok(Docker { runtime, client, exports, host })
    }

    /// The socket or address connected to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The running container with this name or (prefix of an) id.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchContainer`], [`Error::NotRunning`] (a created or
    /// stopped container), [`Error::Cgroup`], or the daemon's failure.
    pub fn container(&self, name_or_id: &str) -> Result<Container, Error> {
        let inspect = self.runtime.block_on(self.client.inspect_container(name_or_id, None));
        let inspect = match inspect {
            Ok(inspect) => inspect,
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                return Err(Error::NoSuchContainer(name_or_id.to_string()))
            }
            Err(source) => {
                return Err(self.api_error(format!("inspect container {name_or_id}"), source))
            }
        };

        let name =
            inspect.name.as_deref().unwrap_or(name_or_id).trim_start_matches('/').to_string();
        let state = inspect.state.as_ref();
        let pid = state.and_then(|s| s.pid).and_then(|p| u32::try_from(p).ok()).unwrap_or(0);
        let running = state.and_then(|s| s.running).unwrap_or(false);
        if !running || pid == 0 {
            let status = state.and_then(|s| s.status).map(|s| s.to_string());
            return Err(Error::NotRunning {
                name,
                state: status.filter(|s| !s.is_empty()).unwrap_or_else(|| "not running".into()),
            });
        }
        let cgroup = cgroup::perf_cgroup_dir(pid).map_err(|source| Error::Cgroup {
            name: name.clone(),
            pid,
            source,
        })?;
        Ok(Container {
            id: inspect.id.unwrap_or_default(),
            name,
            image_id: inspect.image.unwrap_or_default(),
            image: inspect.config.and_then(|c| c.image).unwrap_or_default(),
            pid,
            cgroup,
        })
    }

    /// Every running container that carries `label` (`KEY=VALUE`, or `KEY`
    /// for any value), sorted by name.
    ///
    /// # Errors
    ///
    /// [`Error::BadLabel`], [`Error::NoLabelMatch`] when none does, or what
    /// [`Docker::container`] fails with for one of them.
    pub fn containers_with_label(&self, label: &str) -> Result<Vec<Container>, Error> {
        if label.is_empty() || label.starts_with('=') {
            return Err(Error::BadLabel(label.to_string()));
        }
        let filters = HashMap::from([("label", vec![label]), ("status", vec!["running"])]);
        let options = ListContainersOptionsBuilder::new().all(false).filters(&filters).build();
        let listed = self.runtime.block_on(self.client.list_containers(Some(options))).map_err(
            |source| self.api_error(format!("list containers with label {label}"), source),
        )?;
        let mut out = Vec::new();
        for summary in listed {
            let Some(id) = summary.id else { continue };
            match self.container(&id) {
                Ok(container) => out.push(container),
                // It stopped between the listing and the look.
                Err(Error::NotRunning { .. } | Error::NoSuchContainer(_)) => {}
                Err(e) => return Err(e),
            }
        }
        if out.is_empty() {
            return Err(Error::NoLabelMatch(label.to_string()));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The id (`sha256:...`) of an image given by name or id.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchImage`], or the daemon's failure.
    pub fn image_id(&self, image: &str) -> Result<String, Error> {
        match self.runtime.block_on(self.client.inspect_image(image)) {
            Ok(inspect) => Ok(inspect.id.unwrap_or_else(|| image.to_string())),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                Err(Error::NoSuchImage(image.to_string()))
            }
            Err(source) => Err(self.api_error(format!("inspect image {image}"), source)),
        }
    }

    /// The image as `docker save` writes it, streamed as it arrives.
    pub fn export_image(&self, image_id: &str) -> ImageExport<'_> {
        let stream = self.exports.export_image(image_id).map(|chunk| chunk.map(|b| b.to_vec()));
        ImageExport { docker: self, stream: Box::pin(stream), chunk: Vec::new(), at: 0 }
    }

    fn api_error(&self, action: String, source: bollard::errors::Error) -> Error {
        Error::Api { host: self.host.clone(), action, source }
    }
}

type Chunks<'a> = Pin<Box<dyn Stream<Item = Result<Vec<u8>, bollard::errors::Error>> + 'a>>;

/// An image archive being exported: a blocking reader over the daemon's
/// stream.
pub struct ImageExport<'a> {
    docker: &'a Docker,
    stream: Chunks<'a>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ImageExport<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.chunk.len() {
            match self.docker.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Some(Err(e)) => return Err(io::Error::other(e)),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
