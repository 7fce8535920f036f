//! The crypto nodes as the gateway sees them: a circuit breaker per node, a latency
//! estimate, requests in flight, and the power-of-two-choices pick among healthy nodes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use rand::Rng;

/// When a node's circuit opens and for how long.
#[derive(Clone, Copy, Debug)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub consecutive_failures: u32,
    /// Failure share within `window` that opens it, once `min_requests` were seen there.
    pub error_rate: f64,
    pub window: Duration,
    pub min_requests: u32,
    /// How long an open circuit refuses traffic before one probe request is let through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            error_rate: 0.5,
            window: Duration::from_secs(10),
            min_requests: 20,
            open_for: Duration::from_secs(5),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Circuit {
    Closed,
    Open,
    HalfOpen,
}

impl Circuit {
    pub fn code(self) -> &'static str {
        match self {
            Circuit::Closed => "closed",
            Circuit::Open => "open",
            Circuit::HalfOpen => "half_open",
        }
    }

    /// The value of the `circuit_state` gauge.
    pub fn gauge(self) -> i64 {
        match self {
            Circuit::Closed => 0,
            Circuit::HalfOpen => 1,
            Circuit::Open => 2,
        }
    }
}

#[derive(Debug)]
struct Inner {
    draining: bool,
    /// The last active health check passed (true until one fails).
    up: bool,
    circuit: Circuit,
    open_until: Instant,
    probe_in_flight: bool,
    consecutive: u32,
    /// Per-second (start, requests, failures) within the window.
    seconds: VecDeque<(Instant, u32, u32)>,
    /// Peak-EWMA latency of successful requests, microseconds, as of `sampled`.
    ewma_us: f64,
    sampled: Instant,
}

/// Time constant of the latency estimate: a node's cost decays toward zero while it gets
/// no samples, so a node that was slow once is tried again instead of starved.
const DECAY_SECS: f64 = 1.0;

impl Inner {
    /// The latency estimate now, decayed for the time since the last sample.
    fn cost(&self, now: Instant) -> f64 {
        let idle = now.saturating_duration_since(self.sampled).as_secs_f64();
        self.ewma_us * (-idle / DECAY_SECS).exp()
    }
}

/// One crypto node.
#[derive(Debug)]
pub struct Node {
    pub url: String,
    cfg: BreakerConfig,
    inner: Mutex<Inner>,
    in_flight: AtomicU32,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
}

/// A node's state for display and metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeView {
    pub url: String,
    pub draining: bool,
    pub up: bool,
    pub circuit: Circuit,
    pub in_flight: u32,
    pub latency_ms: f64,
    pub requests: u64,
    pub failures: u64,
}

impl Node {
    fn new(url: String, cfg: BreakerConfig, now: Instant) -> Self {
        Self {
            url,
            cfg,
            inner: Mutex::new(Inner {
                draining: false,
                up: true,
                circuit: Circuit::Closed,
                open_until: now,
                probe_in_flight: false,
                consecutive: 0,
                seconds: VecDeque::new(),
                ewma_us: 0.0,
                sampled: now,
            }),
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a request may go here now; an open circuit whose time is up admits one probe.
    fn available(&self, now: Instant) -> bool {
        let i = self.lock();
        if i.draining || !i.up {
            return false;
        }
        match i.circuit {
            Circuit::Closed => true,
            Circuit::Open => now >= i.open_until && !i.probe_in_flight,
            Circuit::HalfOpen => !i.probe_in_flight,
        }
    }

    /// Latency × load (Finagle's peak EWMA × pending): lower is better.
    fn score(&self, now: Instant) -> f64 {
        let cost = self.lock().cost(now);
        (cost + 1.0) * f64::from(self.in_flight.load(Ordering::Relaxed) + 1)
    }

    /// Claim the node for one request; `None` if it became unavailable meanwhile.
    fn claim(self: &Arc<Self>, now: Instant) -> Option<Lease> {
        let probe = {
            let mut i = self.lock();
            if i.draining || !i.up {
                return None;
            }
            match i.circuit {
                Circuit::Closed => false,
                Circuit::Open if now >= i.open_until && !i.probe_in_flight => {
                    i.circuit = Circuit::HalfOpen;
                    i.probe_in_flight = true;
                    true
                }
                Circuit::HalfOpen if !i.probe_in_flight => {
                    i.probe_in_flight = true;
                    true
                }
                _ => return None,
            }
        };
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(Lease {
            node: self.clone(),
            probe,
            done: false,
        })
    }

    fn record(&self, ok: bool, latency: Duration, probe: bool, now: Instant) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        let mut i = self.lock();
        if probe {
            i.probe_in_flight = false;
        }
        if ok {
            // Peak EWMA: a slower sample is taken at once, faster ones are averaged in
            // with a weight that grows with the time since the last sample.
            let us = latency.as_secs_f64() * 1e6;
            let cost = i.cost(now);
            let idle = now.saturating_duration_since(i.sampled).as_secs_f64();
            let w = (-idle / DECAY_SECS).exp();
            i.ewma_us = if us > cost {
                us
            } else {
                cost * w + us * (1.0 - w)
            };
            i.sampled = now;
        }
        self.outcome(&mut i, ok, probe, now);
    }

    fn outcome(&self, i: &mut Inner, ok: bool, probe: bool, now: Instant) {
        let window = self.cfg.window;
        while i
            .seconds
            .front()
            .is_some_and(|(t, _, _)| now.saturating_duration_since(*t) >= window)
        {
            i.seconds.pop_front();
        }
        match i.seconds.back_mut() {
            Some((t, n, f)) if now.saturating_duration_since(*t) < Duration::from_secs(1) => {
                *n += 1;
                *f += u32::from(!ok);
            }
            _ => i.seconds.push_back((now, 1, u32::from(!ok))),
        }
        if ok {
            i.consecutive = 0;
            if probe || i.circuit == Circuit::HalfOpen {
                i.circuit = Circuit::Closed;
                i.seconds.clear();
            }
            return;
        }
        i.consecutive += 1;
        let (n, f) = i
            .seconds
            .iter()
            .fold((0u32, 0u32), |(n, f), (_, a, b)| (n + a, f + b));
        let rate_trips =
            n >= self.cfg.min_requests && f64::from(f) >= self.cfg.error_rate * f64::from(n);
        if probe
            || i.circuit == Circuit::HalfOpen
            || i.consecutive >= self.cfg.consecutive_failures
            || rate_trips
        {
            if i.circuit != Circuit::Open {
                tracing::warn!(node = %self.url, consecutive = i.consecutive, "circuit opened");
            }
            i.circuit = Circuit::Open;
            i.open_until = now + self.cfg.open_for;
        }
    }

    /// The connection failed after the request was sent (reset, closed): the node is
    /// probably gone, so it is out of rotation until a health check passes again.
    pub fn suspect(&self) {
        let mut i = self.lock();
        if i.up {
            tracing::warn!(node = %self.url, "connection failed; out of rotation until a health check passes");
        }
        i.up = false;
    }

    /// An active health check's result: a failure takes the node out of rotation (and
    /// counts against its circuit); a pass puts it back (its circuit still decides).
    pub fn health(&self, ok: bool, now: Instant) {
        let mut i = self.lock();
        let was = i.up;
        i.up = ok;
        if !ok {
            self.outcome(&mut i, false, false, now);
        }
        if was != ok {
            tracing::warn!(node = %self.url, up = ok, "health check changed");
        }
    }

    pub fn view(&self) -> NodeView {
        let i = self.lock();
        NodeView {
            url: self.url.clone(),
            draining: i.draining,
            up: i.up,
            circuit: i.circuit,
            in_flight: self.in_flight.load(Ordering::Relaxed),
            latency_ms: i.cost(Instant::now()) / 1000.0,
            requests: self.requests.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
        }
    }
}

/// One request's hold on a node. Report the outcome with [`Lease::finish`]; a lease
/// dropped unfinished (the client went away) frees its probe slot without an outcome.
pub struct Lease {
    pub node: Arc<Node>,
    probe: bool,
    done: bool,
}

impl Lease {
    pub fn finish(mut self, ok: bool, latency: Duration) {
        self.node.record(ok, latency, self.probe, Instant::now());
        self.done = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.node.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.done && self.probe {
            self.node.lock().probe_in_flight = false;
        }
    }
}

/// The nodes of this gateway.
pub struct Pool {
    cfg: BreakerConfig,
    nodes: RwLock<Vec<Arc<Node>>>,
}

impl Pool {
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            nodes: RwLock::default(),
        }
    }

    /// Bring the set in line with the configured nodes (URL, draining): new ones join with
    /// a fresh circuit, known ones keep theirs, removed ones leave (requests in flight
    /// keep their node until they finish).
    pub fn sync(&self, configured: &[(String, bool)]) {
        let now = Instant::now();
        let mut nodes = self.nodes.write().unwrap_or_else(|e| e.into_inner());
        nodes.retain(|n| configured.iter().any(|(u, _)| *u == n.url));
        for (url, draining) in configured {
            let node = match nodes.iter().find(|n| n.url == *url) {
                Some(n) => n.clone(),
                None => {
                    tracing::info!(node = %url, "node joined");
                    let n = Arc::new(Node::new(url.clone(), self.cfg, now));
                    nodes.push(n.clone());
                    n
                }
            };
            node.lock().draining = *draining;
        }
    }

    pub fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Power of two choices: two random available nodes not yet tried, the one with the
    /// lower latency × load wins. `None` when no node is available.
    pub fn pick(&self, tried: &[Arc<Node>]) -> Option<Lease> {
        let now = Instant::now();
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        let mut candidates: Vec<&Arc<Node>> = nodes
            .iter()
            .filter(|n| !tried.iter().any(|t| Arc::ptr_eq(t, n)) && n.available(now))
            .collect();
        while !candidates.is_empty() {
            let i = if candidates.len() == 1 {
                0
            } else {
                let mut rng = rand::thread_rng();
                let a = rng.gen_range(0..candidates.len());
                let mut b = rng.gen_range(0..candidates.len() - 1);
                if b >= a {
                    b += 1;
                }
                if candidates[a].score(now) <= candidates[b].score(now) {
                    a
                } else {
                    b
                }
            };
            if let Some(lease) = candidates[i].claim(now) {
                return Some(lease);
            }
            candidates.swap_remove(i);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            consecutive_failures: 3,
            error_rate: 0.5,
            window: Duration::from_secs(10),
            min_requests: 10,
            open_for: Duration::from_millis(50),
        }
    }

    fn pool(urls: &[&str]) -> Pool {
        let p = Pool::new(cfg());
        p.sync(
            &urls
                .iter()
                .map(|u| (u.to_string(), false))
                .collect::<Vec<_>>(),
        );
        p
    }

    fn fail(p: &Pool, url: &str) {
        let n = p.nodes().into_iter().find(|n| n.url == url).unwrap();
        let lease = n.claim(Instant::now()).expect("available");
        lease.finish(false, Duration::from_millis(1));
    }

    #[test]
    fn consecutive_failures_open_then_a_probe_closes() {
        let p = pool(&["a"]);
        let n = p.nodes()[0].clone();
        for _ in 0..2 {
            fail(&p, "a");
        }
        assert_eq!(n.view().circuit, Circuit::Closed);
        fail(&p, "a");
        assert_eq!(n.view().circuit, Circuit::Open);
        assert!(p.pick(&[]).is_none(), "open: fail fast");
        std::thread::sleep(Duration::from_millis(60));
        let probe = p.pick(&[]).expect("one probe after open_for");
        assert_eq!(n.view().circuit, Circuit::HalfOpen);
        assert!(p.pick(&[]).is_none(), "only one probe at a time");
        probe.finish(true, Duration::from_millis(2));
        assert_eq!(n.view().circuit, Circuit::Closed);
        assert!(p.pick(&[]).is_some());
    }

    #[test]
    fn a_failed_probe_reopens_and_an_abandoned_one_frees_its_slot() {
        let p = pool(&["a"]);
        for _ in 0..3 {
            fail(&p, "a");
        }
        std::thread::sleep(Duration::from_millis(60));
        drop(p.pick(&[]).expect("probe"));
        let probe = p.pick(&[]).expect("the slot was freed");
        probe.finish(false, Duration::from_millis(1));
        assert_eq!(p.nodes()[0].view().circuit, Circuit::Open);
        assert!(p.pick(&[]).is_none());
    }

    #[test]
    fn error_rate_opens_without_consecutive_failures() {
        let p = pool(&["a"]);
        let n = p.nodes()[0].clone();
        for _ in 0..5 {
            n.claim(Instant::now())
                .unwrap()
                .finish(true, Duration::from_millis(1));
            assert_eq!(n.view().circuit, Circuit::Closed);
            fail(&p, "a");
        }
        // 5 of 10 failed, never two in a row: the rate trips at the 10th request.
        assert_eq!(n.view().circuit, Circuit::Open);
        assert_eq!(n.view().requests, 10);
        assert_eq!(n.view().failures, 5);
    }

    #[test]
    fn picks_avoid_tried_draining_down_and_slow_nodes() {
        let p = pool(&["a", "b", "c"]);
        let nodes = p.nodes();
        // b is slow: with three nodes, P2C picks it only when both choices are b, never.
        for n in &nodes {
            let ms = if n.url == "b" { 5 } else { 1 };
            n.claim(Instant::now())
                .unwrap()
                .finish(true, Duration::from_millis(ms));
        }
        for _ in 0..200 {
            let l = p.pick(&[]).unwrap();
            assert_ne!(l.node.url, "b");
        }
        // While a and c keep answering in 1 ms, b's estimate decays (e^-t/τ: 5 ms → 1 ms
        // after τ·ln 5 ≈ 1.6 s) until it is tried again rather than starved.
        let start = Instant::now();
        let retried = loop {
            let l = p.pick(&[]).unwrap();
            if l.node.url == "b" {
                break start.elapsed();
            }
            assert!(start.elapsed() < Duration::from_secs(4), "b starved");
            l.finish(true, Duration::from_millis(1));
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(retried > Duration::from_secs(1), "{retried:?}");
        let a = nodes.iter().find(|n| n.url == "a").unwrap().clone();
        let c = nodes.iter().find(|n| n.url == "c").unwrap().clone();
        assert_eq!(p.pick(&[a.clone(), c.clone()]).unwrap().node.url, "b");
        p.sync(&[("a".into(), true), ("b".into(), false), ("c".into(), false)]);
        c.health(false, Instant::now());
        for _ in 0..50 {
            assert_eq!(p.pick(&[]).unwrap().node.url, "b");
        }
        assert!(p.pick(&[nodes[1].clone()]).is_none());
        c.health(true, Instant::now());
        assert!(p.pick(&[nodes[1].clone()]).is_some());
        // Removed nodes leave; a lease keeps its node alive until it finishes.
        let lease = p.pick(&[]).unwrap();
        p.sync(&[]);
        assert!(p.pick(&[]).is_none());
        assert_eq!(lease.node.in_flight.load(Ordering::Relaxed), 1);
        let node = lease.node.clone();
        lease.finish(true, Duration::from_millis(1));
        assert_eq!(node.in_flight.load(Ordering::Relaxed), 0);
    }
}
