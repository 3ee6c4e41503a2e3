//! One module per operation, each with one entry, `handle`: a [`RequestContext`] (routed
//! and authorized) and the audit line in, a response and its audit outcome out.
//!
//! [`RequestContext`]: super::context::RequestContext

pub(super) mod create;
pub(super) mod delete;
pub(super) mod describe;
pub(super) mod history;
pub(super) mod list;
pub(super) mod restore;
pub(super) mod update;
