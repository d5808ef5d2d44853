//! Row-by-row decoding with bounded memory: [`ModelIter`] into models, [`ValuesIter`] into
//! `values()` rows (Django's `values().iterator()`).

use crate::error::Result;
use crate::model::Model;
use orm_backends::{Checkout, Connection, RowStream};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;

/// Model instances decoded as rows arrive. Holds its connection (a pooled checkout, or the
/// transaction's) until dropped; nothing is cached, so memory does not grow with the row
/// count.
pub struct ModelIter<'e, M> {
    // Field order matters for readers; `Drop` frees them in the right order explicitly.
    stream: ManuallyDrop<Box<dyn RowStream + 'e>>,
    checkout: *mut Checkout<'e>,
    related: std::sync::Arc<[crate::model::related::RelatedNode]>,
    chunk: usize,
    buffer: std::collections::VecDeque<Result<M>>,
    done: bool,
    signals: crate::signals::Loader<'e>,
    /// Runs `prefetch_related` on each chunk before it is handed out.
    prefetch: Option<Prefetcher<'e, M>>,
    _m: PhantomData<fn() -> M>,
}

/// The prefetching of one chunk of instances.
pub(crate) type Prefetcher<'e, M> = Box<dyn FnMut(&mut [M]) -> Result<()> + 'e>;

impl<'e, M> ModelIter<'e, M> {
    pub(crate) fn new(
        checkout: Checkout<'e>,
        sql: &str,
        params: &[orm_backends::Value],
        related: std::sync::Arc<[crate::model::related::RelatedNode]>,
        chunk: usize,
        fetch: usize,
    ) -> Result<Self> {
        let raw = Box::into_raw(Box::new(checkout));
        // SAFETY: `raw` is a heap allocation owned by this iterator and freed only in `Drop`
        // (or below on error), after the stream that borrows it. The allocation never moves,
        // so the `&mut` borrow handed to `stream` stays valid as long as the stream lives.
        let conn: &'e mut (dyn Connection + 'e) = unsafe { (*raw).connection() };
        match conn.stream_fetching(sql, params, fetch) {
            Ok(stream) => Ok(ModelIter {
                stream: ManuallyDrop::new(stream),
                checkout: raw,
                related,
                chunk: chunk.max(1),
                buffer: std::collections::VecDeque::new(),
                done: false,
                signals: crate::signals::Loader::NONE,
                prefetch: None,
                _m: PhantomData,
            }),
            Err(e) => {
                // SAFETY: no borrow of `*raw` outlives the failed call; freed exactly once.
                drop(unsafe { Box::from_raw(raw) });
                Err(e.into())
            }
        }
    }

    /// An iterator that yields nothing and ran no query (a QuerySet that matches no row).
    pub(crate) fn empty(checkout: Checkout<'e>) -> Self {
        struct NoRows;
        impl RowStream for NoRows {
            fn next_row(&mut self) -> orm_backends::Result<Option<&dyn orm_backends::Row>> {
                Ok(None)
            }
        }
        ModelIter {
            stream: ManuallyDrop::new(Box::new(NoRows)),
            checkout: Box::into_raw(Box::new(checkout)),
            related: std::sync::Arc::from(Vec::new()),
            chunk: 1,
            buffer: std::collections::VecDeque::new(),
            done: true,
            signals: crate::signals::Loader::NONE,
            prefetch: None,
            _m: PhantomData,
        }
    }
}

impl<'e, M: Model> ModelIter<'e, M> {
    /// Prefetches each chunk with `prefetch` before handing it out.
    pub(crate) fn with_prefetch(mut self, prefetch: Prefetcher<'e, M>) -> Self {
        self.prefetch = Some(prefetch);
        self
    }

    /// Sends the init signals through `hub` for each instance decoded.
    pub(crate) fn with_init_signals(mut self, loader: crate::signals::Loader<'e>) -> Self {
        self.signals = loader;
        self
    }
}

impl<M> Drop for ModelIter<'_, M> {
    fn drop(&mut self) {
        // SAFETY: the stream borrows `*checkout`, so it is dropped first; `checkout` came from
        // `Box::into_raw` and is freed exactly once, here.
        unsafe {
            ManuallyDrop::drop(&mut self.stream);
            drop(Box::from_raw(self.checkout));
        }
    }
}

impl<M: Model> ModelIter<'_, M> {
    /// Reads and decodes the next row from the server.
    fn read_one(&mut self) -> Option<Result<M>> {
        if self.done {
            return None;
        }
        match self.stream.next_row() {
            Ok(Some(row)) => Some(crate::queryset::decode_selected::<M>(self.signals, row, &self.related)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e.into()))
            }
        }
    }
}

impl<M: Model> Iterator for ModelIter<'_, M> {
    type Item = Result<M>;

    /// Hands out instances decoded `chunk_size` rows at a time (one by default), so at most
    /// that many decoded instances are held, however many rows the query yields.
    fn next(&mut self) -> Option<Result<M>> {
        if self.buffer.is_empty() {
            for _ in 0..self.chunk {
                match self.read_one() {
                    Some(item) => self.buffer.push_back(item),
                    None => break,
                }
            }
            if let Some(prefetch) = self.prefetch.as_mut() {
                if !self.buffer.is_empty() && self.buffer.iter().all(|r| r.is_ok()) {
                    let mut objs: Vec<M> = self.buffer.drain(..).filter_map(|r| r.ok()).collect();
                    match prefetch(&mut objs) {
                        Ok(()) => self.buffer.extend(objs.into_iter().map(Ok)),
                        Err(e) => {
                            self.done = true;
                            return Some(Err(e));
                        }
                    }
                }
            }
        }
        self.buffer.pop_front()
    }
}

/// `values()` rows read as they arrive (Django's `.values(…).iterator()`): the same
/// streaming as [`ModelIter`], each row an [`OwnedRow`](orm_backends::OwnedRow) named by the
/// selected columns.
pub struct ValuesIter<'e> {
    inner: ModelIter<'e, ()>,
    names: std::sync::Arc<[String]>,
}

impl<'e> ValuesIter<'e> {
    pub(crate) fn new(
        checkout: Checkout<'e>,
        sql: &str,
        params: &[orm_backends::Value],
        names: std::sync::Arc<[String]>,
        fetch: usize,
    ) -> Result<Self> {
        let inner = ModelIter::new(checkout, sql, params, std::sync::Arc::from(Vec::new()), 1, fetch)?;
        Ok(ValuesIter { inner, names })
    }

    pub(crate) fn empty(checkout: Checkout<'e>) -> Self {
        ValuesIter { inner: ModelIter::empty(checkout), names: std::sync::Arc::from(Vec::new()) }
    }
}

impl Iterator for ValuesIter<'_> {
    type Item = Result<orm_backends::OwnedRow>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.inner.done {
            return None;
        }
        match self.inner.stream.next_row() {
            Ok(Some(row)) => {
                let values: orm_backends::Result<Vec<orm_backends::Value>> =
                    (0..self.names.len()).map(|i| row.value(i)).collect();
                Some(values.map(|v| orm_backends::OwnedRow::new(self.names.clone(), v)).map_err(Into::into))
            }
            Ok(None) => {
                self.inner.done = true;
                None
            }
            Err(e) => {
                self.inner.done = true;
                Some(Err(e.into()))
            }
        }
    }
}
