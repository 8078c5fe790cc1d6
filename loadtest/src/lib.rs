//! Load tests of a running dialer and a provider simulator; see the two binaries:
//! `dialer-loadtest` (goose scenarios) and `dialer-provider-sim`.
