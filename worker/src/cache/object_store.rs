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

    pub async fn delete(&self, key: &str) -> worker::Result<()> {
        self.0.delete(key).await.map(|_| ())
    }
}
