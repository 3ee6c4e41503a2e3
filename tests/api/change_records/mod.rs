//! Change records: each write request leaves one, so a resend (a client retry, an SDK
//! retry, a redelivered direct invocation) gets its first answer and writes nothing, and
//! an identity reused for another change is refused. `replay`: resends and the request's
//! identity (request ids, `Idempotency-Key`, the actor); `seals`: records and ledger
//! entries judged by their seal, so forged or tampered ones never count as done.

mod replay;
mod seals;
