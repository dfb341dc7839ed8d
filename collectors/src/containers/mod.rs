//! Docker containers as sampling targets: which containers a name, an id or
//! a label selects, the cgroup their processes run in, and their images'
//! archives for debug info.
//!
//! The Docker API is reached through `bollard` on the local socket (or
//! whatever `DOCKER_HOST` names), driven by a small current-thread tokio
//! runtime that lives only inside [`Docker`]; the rest of firebox stays
//! synchronous.
//!
//! ```no_run
//! use firebox_collectors::containers::Docker;
//!
//! let docker = Docker::connect()?;
//! let api = docker.container("api")?;
//! println!("{} runs as pid {} in {}", api.name, api.pid, api.cgroup.display());
//! # Ok::<(), firebox_collectors::containers::Error>(())
//! ```

mod cgroup;
mod docker;

use std::path::PathBuf;

pub use cgroup::{perf_cgroup_dir, pids_in};
pub use docker::{Docker, ImageExport};

/// A running container, as firebox samples it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// The full container id.
    pub id: String,
    /// Its name, without Docker's leading `/`.
    pub name: String,
    /// The id of its image (`sha256:...`).
    pub image_id: String,
    /// The image as the container was created from it (`app:1.2`).
    pub image: String,
    /// The host pid of its first process.
    pub pid: u32,
    /// The directory of its cgroup in the hierarchy perf events follow.
    pub cgroup: PathBuf,
}

/// What talking to Docker failed with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No daemon answers on the socket.
    #[error("cannot reach the Docker daemon at {host}: is dockerd running? (DOCKER_HOST selects another socket)")]
    Unreachable {
        /// The socket or address tried.
        host: String,
        /// What the client said.
        #[source]
        source: bollard::errors::Error,
    },
    /// The name or id matches no container.
    #[error("no such container: {0} (`docker ps -a` lists them)")]
    NoSuchContainer(String),
    /// The container exists but runs no process.
    #[error("container {name} is not running (it is {state}): start it first")]
    NotRunning {
        /// The container.
        name: String,
        /// Its state (`created`, `exited`, ...).
        state: String,
    },
    /// No running container carries the label.
    #[error("no running container has the label {0}")]
    NoLabelMatch(String),
    /// A label selector is not `KEY=VALUE` or `KEY`.
    #[error("a label selector is KEY=VALUE or KEY, not {0:?}")]
    BadLabel(String),
    /// The image is not known to the daemon.
    #[error("no such image: {0}")]
    NoSuchImage(String),
    /// The container's cgroup could not be found.
    #[error("cannot find the cgroup of container {name} (pid {pid})")]
    Cgroup {
        /// The container.
        name: String,
        /// Its first process.
        pid: u32,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// Any other answer of the daemon.
    #[error("the Docker daemon at {host} failed to {action}")]
    Api {
        /// The socket or address.
        host: String,
        /// What was asked.
        action: String,
        /// What it said.
        #[source]
        source: bollard::errors::Error,
    },
    /// The tokio runtime could not start.
    #[error("failed to start the runtime for the Docker client")]
    Runtime(#[source] std::io::Error),
}
