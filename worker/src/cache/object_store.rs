//! A Durable Object's storage, string values only: what every object
//! keeps (a managed app's ticket and app token, a user's grant) goes
//! through this one wrapper.

use std::rc::Rc;
use worker::State;

/// The object's storage (string values only).
#[derive(Clone)]
pub struct ObjectStore(Rc<worker::Storage>);

impl ObjectStore {
    pub fn of(state: &State) -> Self {
        Self(Rc::new(state.storage()))
    }

    pub async fn get(&self, key: &str) -> worker::Result<Option<String>> {
        self.0.get(key).await
    }

    pub async fn put(&self, key: &str, value: &str) -> worker::Result<()> {
        self.0.put(key, value).await
    }

    /// Whether any of `keys` is kept: one read for all of them.
    pub async fn any_kept(&self, keys: &[&str]) -> worker::Result<bool> {
        Ok(self.0.get_multiple(keys.to_vec()).await?.size() > 0)
    }

    /// Writes every `(key, value)` in one step: all of them or none.
    pub async fn put_all(&self, entries: &[(&str, &str)]) -> worker::Result<()> {
        let values = js_sys::Object::new();
        for (key, value) in entries {
            js_sys::Reflect::set(&values, &(*key).into(), &(*value).into())?;
        }
        self.0.put_multiple_raw(values).await
    }

    /// Sets the object's one alarm at `at_ms` (an absolute time).
    pub async fn set_alarm(&self, at_ms: u64) -> worker::Result<()> {
        let at = js_sys::Date::new(&(at_ms as f64).into());
        self.0.set_alarm(worker::ScheduledTime::new(at)).await
    }

    pub async fn delete(&self, key: &str) -> worker::Result<()> {
        self.0.delete(key).await.map(|_| ())
    }
}
