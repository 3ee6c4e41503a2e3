//! Change records: each write request leaves one, so a resend (a client retry, an SDK
//! retry, a redelivered direct invocation) gets its first answer and writes nothing, and
//! an identity reused for another change is refused. `identity`: what names a request
//! (request ids, `Idempotency-Key`, the actor); `replay`: every kind of resend answered as
//! the first time; `seals`: records and ledger entries judged by their seal, so forged or
//! tampered ones never count as done.

mod identity;
mod replay;
mod seals;
