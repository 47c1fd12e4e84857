//! Code the program gives the worker to run on its thread: messages to send on
//! every connect, and automatic replies to inbound messages.

use std::sync::Arc;

use crate::message::Message;

/// What [`Dialer::auto_reply`](crate::Dialer::auto_reply) decides for one inbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to send; the message goes to the buffer as usual.
    Pass,
    /// Send this text at once and keep the message out of the buffer (a heartbeat).
    Send(String),
    /// Send this text at once and put the message in the buffer too.
    SendAndKeep(String),
    /// Send nothing and keep the message out of the buffer.
    Skip,
}

pub(crate) type OnConnect = Arc<dyn Fn() -> Vec<String> + Send + Sync>;
pub(crate) type AutoReply = Arc<dyn Fn(&Message) -> Reply + Send + Sync>;
pub(crate) type Priority = Arc<dyn Fn(&Message) -> bool + Send + Sync>;

/// The program's hooks, cloned into every connection a `Dialer` makes.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) on_connect: Option<OnConnect>,
    pub(crate) auto_reply: Option<AutoReply>,
    pub(crate) priority: Option<Priority>,
}
