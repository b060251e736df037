//! The hot tier's Lua scripts, one file each under `lua/`, and what each takes and answers.
//!
//! A script runs atomically on the server, so every change to a session's record together with
//! its idle-index and dirty-set entries (all in one Cluster slot) is one script call. The scripts
//! read the record header (see `codec.rs`) at fixed 1-based positions: magic 1..4, version 5..24,
//! last access 47..66, persisted version 68..87, user length 95..97; in an `hc2|` record the
//! activity (requests 99..118, visits 120..139, think time 141..160, last request 162..181),
//! header end 182; an `hc1|` record (earlier versions) has no activity, header end 98. Every
//! script reads and keeps both; the two that count a request rewrite an hc1 record as hc2.
//! Numbers are 20 zero-padded digits, so the scripts compare them as strings; the counting
//! scripts compute in Lua 5.1 numbers (doubles: exact to 2^53, far above any count or time in
//! ms) and write with `%020.0f`, by the rule of `Activity::record`.
//!
//! Each file starts with an empty line, as the text did when it was an inline Rust string: the
//! same bytes give the same SHA1, the name EVALSHA calls a script by, so processes built before
//! and after the move share the loaded scripts.

use ::redis::Script;

/// Full touch: GETEX (TTL), last access := now if later, ZADD, the light touches' counts this
/// process held added to the activity, and with ARGV[6] = '1' one request counted at now (a
/// tombstone: the TTL only, never the index nor a count). KEYS: record, idle. ARGV: now (20
/// digits), ttl ms, member, now (plain), visit gap ms, count ('1' or '0'), then the held requests,
/// visits, think ms and last request. Returns the record as stored, or nil.
const TOUCH_LUA: &str = include_str!("lua/touch.lua");

/// Adds the light touches' counts a process held to a record's activity, in place (SETRANGE of the
/// activity numbers; an hc1 record is rewritten as hc2), nothing else; a tombstone or a missing
/// record is left alone. KEYS: record. ARGV: requests, visits, think ms, last request. Returns 1
/// when added, 0 otherwise.
const ADD_ACTIVITY_LUA: &str = include_str!("lua/add_activity.lua");

/// Stores a record unless the stored one is fresher; a tombstone (version 4294967295) leaves the
/// idle index, so it is no session to count or demote and ends with its TTL. KEYS: record, idle,
/// dirty. ARGV: member, record, ttl ms, last access (plain), dirty ('1' or '0'). Returns 1
/// written, 0 kept newer.
const PUT_LUA: &str = include_str!("lua/put.lua");

/// Compare-and-set of the data, keeping the record's format (hc2 with its activity, or hc1).
/// KEYS: record, idle, dirty. ARGV: data, expected version, next version, now (20 digits each),
/// ttl ms, member. Returns {0} miss, {1, current version} conflict, {2, record} updated.
const UPDATE_LUA: &str = include_str!("lua/update.lua");

/// Removes and returns a record. KEYS: record, idle, dirty. ARGV: member.
const TAKE_LUA: &str = include_str!("lua/take.lua");

/// Removes a record only if version and last access are unchanged. KEYS: record, idle, dirty.
/// ARGV: version, last access (20 digits), member. Returns the removed record, or nil.
const REMOVE_IF_UNCHANGED_LUA: &str = include_str!("lua/remove_if_unchanged.lua");

/// Checks one idle-index entry. KEYS: record, idle, dirty. ARGV: member, idle since (20
/// digits). Returns {0} vanished (entry dropped), {1} no longer idle, {2, record} idle.
const IDLE_FETCH_LUA: &str = include_str!("lua/idle_fetch.lua");

/// Reads one dirty-set entry. KEYS: record, dirty. ARGV: member. Returns the record, or nil (and
/// drops the entry) when the session is gone or clean.
const DIRTY_FETCH_LUA: &str = include_str!("lua/dirty_fetch.lua");

/// Records a persisted version. KEYS: record, dirty. ARGV: version (20 digits), member.
const MARK_PERSISTED_LUA: &str = include_str!("lua/mark_persisted.lua");

/// Moves up to ARGV[1] members of a user's legacy index (a plain set, from earlier versions) into
/// the user's sorted set, score 0. KEYS: legacy set, sorted set. Returns how many moved.
const USER_SET_UPGRADE_LUA: &str = include_str!("lua/user_set_upgrade.lua");

/// Every script, its SHA1 computed once.
pub(super) struct Scripts {
    pub(super) touch: Script,
    pub(super) add_activity: Script,
    pub(super) put: Script,
    pub(super) update: Script,
    pub(super) take: Script,
    pub(super) remove_if_unchanged: Script,
    pub(super) idle_fetch: Script,
    pub(super) dirty_fetch: Script,
    pub(super) mark_persisted: Script,
    pub(super) user_set_upgrade: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        Self {
            touch: Script::new(TOUCH_LUA),
            add_activity: Script::new(ADD_ACTIVITY_LUA),
            put: Script::new(PUT_LUA),
            update: Script::new(UPDATE_LUA),
            take: Script::new(TAKE_LUA),
            remove_if_unchanged: Script::new(REMOVE_IF_UNCHANGED_LUA),
            idle_fetch: Script::new(IDLE_FETCH_LUA),
            dirty_fetch: Script::new(DIRTY_FETCH_LUA),
            mark_persisted: Script::new(MARK_PERSISTED_LUA),
            user_set_upgrade: Script::new(USER_SET_UPGRADE_LUA),
        }
    }

    /// Every script, to load them all at start-up.
    pub(super) fn all(&self) -> [&Script; 10] {
        [
            &self.touch,
            &self.add_activity,
            &self.put,
            &self.update,
            &self.take,
            &self.remove_if_unchanged,
            &self.idle_fetch,
            &self.dirty_fetch,
            &self.mark_persisted,
            &self.user_set_upgrade,
        ]
    }
}
