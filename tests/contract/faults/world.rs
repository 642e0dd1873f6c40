//! A storage and a consumer that fail on a seeded schedule and record every call the
//! component makes into them, with what the storage durably held at that moment.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use pipeline_checkpoint_host::storage::{Expected, Stored, check_expected, content_version};
use pipeline_checkpoint_host::{
    AckError, AckResult, Consumer, Fault, Storage, StorageError, StorageResult,
};

use crate::seeded::Rng;

/// One host call made by the component during the current operation.
#[derive(Debug, Clone)]
pub enum Event {
    Get {
        fault: Option<Fault<StorageError>>,
    },
    Put {
        /// The offset in the record the component asked to store.
        offset: u64,
        fault: Option<Fault<StorageError>>,
    },
    Ack {
        ids: Vec<String>,
        /// The offset the test was writing when the ack arrived.
        writing: u64,
        /// The offset storage durably held when the ack arrived.
        durable: Option<u64>,
        fault: Option<Fault<AckError>>,
    },
}

/// How often each import fails, in percent of its calls.
#[derive(Debug, Clone, Copy)]
pub struct Rates {
    pub put: u64,
    pub get: u64,
    pub ack: u64,
}

/// The storage's contents, the fault schedule and the log of calls, shared by the
/// storage and consumer halves and by the test.
#[derive(Clone)]
pub struct World(Arc<Mutex<State>>);

struct State {
    /// The record as durably stored: what survives any crash or restart.
    stored: Option<String>,
    schedule: Rng,
    rates: Rates,
    writing: u64,
    events: Vec<Event>,
    injected: BTreeMap<String, u64>,
}

impl World {
    pub fn new(schedule: Rng, rates: Rates) -> Self {
        Self(Arc::new(Mutex::new(State {
            stored: None,
            schedule,
            rates,
            writing: 0,
            events: Vec::new(),
            injected: BTreeMap::new(),
        })))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A failed assertion elsewhere poisons the lock; the data is still sound.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts an operation that writes `offset` (0 for a read): clears the call log
    /// and tells the consumer which offset its acks belong to.
    pub fn begin(&self, offset: u64) {
        let mut state = self.state();
        state.writing = offset;
        state.events.clear();
    }

    /// The calls made since [`World::begin`].
    pub fn events(&self) -> Vec<Event> {
        self.state().events.clone()
    }

    /// The offset durably stored, read with serde_json rather than the product's own
    /// decoder.
    pub fn stored_offset(&self) -> Option<u64> {
        self.state().stored.as_deref().map(offset_in)
    }

    /// How many faults were injected, by import and case.
    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.state().injected.clone()
    }
}

/// The `offset` of a record the component wrote.
fn offset_in(record: &str) -> u64 {
    let value: serde_json::Value = serde_json::from_str(record)
        .unwrap_or_else(|e| panic!("the component stored non-JSON {record:?}: {e}"));
    value["offset"]
        .as_u64()
        .unwrap_or_else(|| panic!("the component stored {record:?}, without a u64 offset"))
}

impl State {
    /// Draws the next storage fault of `import`, if the schedule says this call fails.
    fn storage_fault(&mut self, import: &str, rate: u64) -> Option<Fault<StorageError>> {
        if !self.schedule.percent(rate) {
            return None;
        }
        let n = self.injected.values().sum::<u64>();
        let why = format!("injected {import} fault #{n}");
        let (case, fault) = match self.schedule.below(7) {
            0 => ("io", StorageError::Io(why.into()).into()),
            1 => ("no-space", StorageError::NoSpace(why.into()).into()),
            2 => (
                "access-denied",
                StorageError::AccessDenied(why.into()).into(),
            ),
            3 => ("unavailable", StorageError::Unavailable(why.into()).into()),
            4 => ("invalid-key", StorageError::InvalidKey(why).into()),
            5 => ("invalid-data", StorageError::InvalidData(why.into()).into()),
            _ => ("abort", Fault::Abort(why)),
        };
        self.count(import, case);
        Some(fault)
    }

    fn ack_fault(&mut self) -> Option<Fault<AckError>> {
        if !self.schedule.percent(self.rates.ack) {
            return None;
        }
        let n = self.injected.values().sum::<u64>();
        let why = format!("injected ack fault #{n}");
        let (case, fault) = match self.schedule.below(4) {
            0 => ("rejected", AckError::Rejected(why).into()),
            1 => ("unavailable", AckError::Unavailable(why).into()),
            2 => ("invalid-batch", AckError::InvalidBatch(why).into()),
            _ => ("abort", Fault::Abort(why)),
        };
        self.count("ack", case);
        Some(fault)
    }

    fn count(&mut self, import: &str, case: &str) {
        *self.injected.entry(format!("{import} {case}")).or_default() += 1;
    }
}

impl Storage for World {
    async fn put(&mut self, key: &str, value: &str, expected: Expected) -> StorageResult<u64> {
        let mut state = self.state();
        let rate = state.rates.put;
        let fault = state.storage_fault("put", rate);
        state.events.push(Event::Put {
            offset: offset_in(value),
            fault: fault.clone(),
        });
        if let Some(fault) = fault {
            // A failed put leaves the previous value, as the WIT requires.
            return Err(fault);
        }
        // The world has one writer, the component: its puts always expect what it
        // last saw, and a conflict here would be a fault of the manager.
        check_expected(key, state.stored.as_deref().map(content_version), expected)?;
        state.stored = Some(value.to_owned());
        Ok(content_version(value))
    }

    async fn get(&mut self, _key: &str) -> StorageResult<Option<Stored>> {
        let mut state = self.state();
        let rate = state.rates.get;
        let fault = state.storage_fault("get", rate);
        state.events.push(Event::Get {
            fault: fault.clone(),
        });
        match fault {
            Some(fault) => Err(fault),
            None => Ok(state.stored.clone().map(|value| Stored {
                version: content_version(&value),
                value,
            })),
        }
    }
}

impl Consumer for World {
    async fn ack(&mut self, ids: &[String]) -> AckResult {
        let mut state = self.state();
        let fault = state.ack_fault();
        let event = Event::Ack {
            ids: ids.to_vec(),
            writing: state.writing,
            durable: state.stored.as_deref().map(offset_in),
            fault: fault.clone(),
        };
        state.events.push(event);
        fault.map_or(Ok(()), Err)
    }
}
