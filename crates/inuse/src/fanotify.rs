//! placeholder: the fanotify watcher is written in its own change.
