//! Incremental decoding (a KV cache): while a decode session is on, a graph can be run on only
//! the newest tokens. Causal self-attention layers keep the keys and values of every earlier
//! token and attend over them; position tables add the positions the new tokens really have.
//! Layers that act position by position need nothing. A graph with any other layer that mixes
//! positions (a recurrence, a convolution over time) cannot decode this way — each op says
//! which it is ([`super::Decode`]) — and is run over the whole window instead.

use burn::tensor::Tensor;
use std::cell::RefCell;

struct Session {
    /// Tokens already in the cache (the position of the first new token).
    offset: usize,
    /// Index of the next attention call in this pass.
    call: usize,
    /// Cached keys and values per attention call, `[B, heads, S, head size]`.
    kv: Vec<(Tensor<4>, Tensor<4>)>,
}

thread_local! {
    static SESSION: RefCell<Option<Session>> = const { RefCell::new(None) };
}

/// A decode session that ends when dropped (so an early return never leaves one on).
pub struct Guard;

impl Guard {
    /// Starts a session.
    pub fn new() -> Self {
        begin();
        Guard
    }

    /// Drops the cache and starts again with an empty one.
    pub fn restart(&self) {
        begin();
    }
}

impl Default for Guard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        end();
    }
}

/// Starts a decode session on this thread (an empty cache).
pub fn begin() {
    SESSION.with(|s| {
        *s.borrow_mut() = Some(Session {
            offset: 0,
            call: 0,
            kv: Vec::new(),
        })
    });
}

/// Ends the session and drops the cache.
pub fn end() {
    SESSION.with(|s| *s.borrow_mut() = None);
}

/// After a pass over `n` new tokens: they join the cache.
pub fn advance(n: usize) {
    SESSION.with(|s| {
        if let Some(s) = s.borrow_mut().as_mut() {
            s.offset += n;
            s.call = 0;
        }
    });
}

/// Tokens in the cache (0 outside a session).
pub fn offset() -> usize {
    SESSION.with(|s| s.borrow().as_ref().map_or(0, |s| s.offset))
}

/// For a causal self-attention layer inside a session: its keys and values with the cached ones
/// in front (and stored for the next pass). `None` outside a session.
pub fn extend(k: Tensor<4>, v: Tensor<4>) -> Option<(Tensor<4>, Tensor<4>)> {
    SESSION.with(|s| {
        let mut guard = s.borrow_mut();
        let s = guard.as_mut()?;
        let i = s.call;
        s.call += 1;
        let (k, v) = match s.kv.get(i) {
            Some((pk, pv)) => (Tensor::cat(vec![pk.clone(), k], 2), Tensor::cat(vec![pv.clone(), v], 2)),
            None => (k, v),
        };
        if i < s.kv.len() {
            s.kv[i] = (k.clone(), v.clone());
        } else {
            s.kv.push((k.clone(), v.clone()));
        }
        Some((k, v))
    })
}
