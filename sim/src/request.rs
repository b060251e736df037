//! What users do: a new visitor arrives, a user makes a request, a visit ends.

use hotcold_engine::ready::now_or_panic;
use hotcold_engine::{EngineError, RegionId, Served, SessionData, SessionId, Touched};
use hotcold_model::tally::RequestClass;
use hotcold_model::traffic::Visitor;

use crate::backends::Backends;
use crate::event::Event;
use crate::migration::{Move, Routed};
use crate::periodic::MINUTE_MS;
use crate::population::User;
use crate::prefetch::prefetch_address;
use crate::queue::NIL;
use crate::sim::Sim;
use crate::stores::NO_SLOT;

impl Sim {
    /// A new visitor of `region` arrives at `t` and makes the visit's first request.
    pub(crate) fn arrival(&mut self, region: usize, t: u64) {
        let Visitor { requests, payload } = self.traffic.new_visitor();
        let user = User {
            id: SessionId::from_parts([0; 16], RegionId(region as u16)),
            version: 0,
            payload,
            last_access: t,
            remaining: requests,
            hot_hint: NO_SLOT,
            home: region as u16,
            has_session: false,
            bucket: 0,
            next_event: NIL,
        };
        let Some(slot) = self.population.alloc(user) else { return };
        self.population.active[region] += 1;
        self.meters.counts.visits += 1;
        self.baseline.add(region, payload);
        self.request(slot, t);
    }

    /// The user in `slot` is due at `t`: the next request of a visit, or the first of a return.
    pub(crate) fn user_event(&mut self, slot: u32, t: u64) {
        let user = &mut self.population.users[slot as usize];
        if user.remaining == 0 {
            // A return: a new visit with the same token.
            let home = usize::from(user.home);
            let requests = self.traffic.visit_requests();
            self.population.users[slot as usize].remaining = requests;
            self.population.active[home] += 1;
            self.meters.counts.visits += 1;
        }
        self.request(slot, t);
    }

    /// One request of the user in `slot` at `t`.
    fn request(&mut self, slot: u32, t: u64) {
        let mut user = self.population.users[slot as usize];
        // The think time before the next request is drawn now (the same draw from the same
        // stream as after the request) so the wheel slot it lands in loads while the request runs.
        let next_at = (user.remaining > 1).then(|| {
            let at = t.saturating_add(self.traffic.think_ms());
            prefetch_address(self.events.slot_address(at));
            at
        });
        let home = usize::from(user.home);
        let target = self.traffic.serving_region(home);
        // Drawn for every request, used only by a lookup that finds the session: no draw depends
        // on what the backends answered, so `hotcold load` makes the same draws.
        let updates = self.traffic.updates();
        let serving = self.faults.route(target);
        if serving != target {
            // The user's region is down: served from another, a detour the latency figures
            // (measured at the serving region) leave out; the report adds it.
            self.faults.detoured[target] += 1;
        }
        self.backends.context.begin_request(serving, user.hot_hint);
        let lost_before = self.meters.counts.lost;
        self.meters.counts.requests += 1;
        self.meters.bucket[serving].requests += 1;
        let mut class = RequestClass::Other;
        let mut failed = false;
        // With a `migration:` block the legacy store may serve the request, or move the session
        // first (see `migration.rs`); `Routed::Engine` goes on as without one.
        let routed = if self.migration.is_some() {
            self.route_migration(&mut user, serving, t, updates)
        } else {
            Routed::Engine
        };
        let counts = &mut self.meters.counts;
        let bucket = &mut self.meters.bucket[serving];
        let manager = &self.backends.managers[serving];
        if let Routed::Done { class: done, failed: done_failed, .. } = routed {
            class = done;
            failed = done_failed;
        } else if user.has_session {
            if let Some(analytics) = self.backends.audit.analytics() {
                analytics.request(&user.id, Backends::timestamp(t).0);
            }
            match now_or_panic(manager.touch(&user.id)) {
                Ok(Touched { version: found_version, served, .. }) => {
                    match served {
                        Served::Hot => {
                            counts.hot_hits += 1;
                            bucket.hot_hits += 1;
                            class = RequestClass::HotAccess;
                        }
                        Served::Promoted | Served::ColdOnly => {
                            counts.cold_promotions += 1;
                            counts.cold_only += u64::from(served == Served::ColdOnly);
                            bucket.promotions += 1;
                            class = RequestClass::ColdPromotion;
                        }
                    }
                    let version = u32::try_from(found_version).unwrap_or(u32::MAX);
                    if version < user.version {
                        counts.lost += 1;
                        bucket.losses += 1;
                    }
                    user.version = version;
                    if updates {
                        let data = SessionData::opaque(user.payload as usize);
                        match now_or_panic(manager.update(&user.id, data, found_version)) {
                            Ok(updated) => {
                                counts.updates += 1;
                                user.version = u32::try_from(updated.version).unwrap_or(u32::MAX);
                            }
                            Err(e) => {
                                counts.failed_updates += 1;
                                failed |= matches!(e, EngineError::Store(_));
                            }
                        }
                    }
                }
                Err(EngineError::NotFound) => {
                    counts.invalid_lookups += 1;
                    let expected_live = t < user.last_access.saturating_add(self.timing.cold_ttl_ms);
                    if expected_live {
                        counts.lost += 1;
                        bucket.losses += 1;
                    } else {
                        // The session expired as it should: the user signs in again.
                        self.baseline.add(home, user.payload);
                    }
                    user.has_session = false;
                }
                Err(_) => failed = true,
            }
        }
        // Under a migration a new session is created on the side the split gives it.
        let mut legacy_create = false;
        if let Some(migration) = self.migration.as_mut().filter(|_| !user.has_session && !failed) {
            let (id, side) = migration.draw_id(target);
            user.bucket = side;
            if side >= migration.threshold_at(t) {
                self.create_legacy(&mut user, id, t);
                class = RequestClass::Create;
                legacy_create = true;
            }
        }
        if !user.has_session && !failed && !legacy_create {
            let manager = &self.backends.managers[serving];
            let data = SessionData::opaque(user.payload as usize);
            // Homed in the user's region even while it is down and another serves it, so the
            // session goes home when it recovers (failback) instead of detouring for life.
            let home = RegionId(target as u16);
            match now_or_panic(manager.create_in(home, self.backends.context.user().clone(), data)) {
                Ok(created) => {
                    if let Some(analytics) = self.backends.audit.analytics() {
                        analytics.created(&created.session.id, Backends::timestamp(t).0);
                    }
                    user.id = created.session.id;
                    user.version = 1;
                    user.has_session = true;
                    class = RequestClass::Create;
                }
                Err(_) => failed = true,
            }
        }
        // A session the legacy store holds keeps its index where the hint would be.
        let legacy = user.legacy();
        let found_at = self.backends.context.found_at();
        if found_at != NO_SLOT {
            user.hot_hint = found_at;
        }
        if legacy.is_some() {
            user.set_legacy(legacy);
        }
        let latency = self.backends.drain_latency_us();
        if let Some(migration) = self.migration.as_mut() {
            match routed {
                Routed::Done { moved: Some(Move::Migrated), failed: false, .. } => migration.migrated(serving, latency),
                Routed::Done { moved: Some(Move::RolledBack), failed: false, .. } => {
                    migration.rolled_back(serving, latency);
                }
                Routed::Done { moved: None, failed: false, .. } => migration.served(serving, latency),
                _ if legacy_create => migration.served(serving, latency),
                _ => {}
            }
        }
        if failed {
            self.meters.counts.failed_requests += 1;
            self.meters.bucket[serving].failures += 1;
        }
        let class = if failed { RequestClass::Other } else { class };
        self.meters.latency.record(serving, class, latency);
        // Per home region of the session (the user's region until one is created): what
        // residency costs its users.
        let session_home = if user.has_session { user.id.home().index() } else { target };
        let lost = self.meters.counts.lost - lost_before;
        if let Some(home) = self.meters.homes.get_mut(session_home) {
            home.requests += 1;
            home.failed += u64::from(failed);
            home.lost += lost;
            if serving != session_home {
                home.away += 1;
                let lookup = matches!(class, RequestClass::HotAccess | RequestClass::ColdPromotion);
                if lookup && t >= self.timing.warmup_ms {
                    home.record_away_lookup(latency, serving != target);
                }
            }
        }
        user.last_access = t;
        user.remaining = user.remaining.saturating_sub(1);
        if let Some(at) = next_at {
            self.population.users[slot as usize] = user;
            self.push(at, Event::User(slot));
            return;
        }
        self.end_visit(slot, user, serving, t);
    }

    /// A visit's last request is done: log out, come back later, or walk away.
    fn end_visit(&mut self, slot: u32, mut user: User, serving: usize, t: u64) {
        let home = usize::from(user.home);
        self.population.active[home] = self.population.active[home].saturating_sub(1);
        if self.traffic.logs_out() {
            if user.has_session && !self.legacy_logout(&mut user) {
                let _ = now_or_panic(self.backends.managers[serving].logout(&user.id));
                let _ = self.backends.drain_latency_us();
            }
            self.baseline.remove(home, user.payload);
            self.population.release(slot);
            return;
        }
        let expires_at = t.saturating_add(self.timing.cold_ttl_ms);
        if let Some(migration) = self.migration.as_mut() {
            if let Some(index) = user.legacy() {
                migration.visit_ended(index, t);
            }
        }
        if self.traffic.returns() {
            let at = t.saturating_add(self.traffic.return_gap_ms());
            if at >= expires_at {
                self.baseline.expire_at(home, user.payload, expires_at);
            }
            if at < self.timing.end_ms {
                user.remaining = 0;
                if at / MINUTE_MS < self.population.next_tick_minute {
                    // The tick of that minute has passed: straight to the event queue.
                    self.population.users[slot as usize] = user;
                    self.push(at, Event::User(slot));
                    return;
                }
                self.population.wait_to_return(user, at);
            }
        } else {
            self.baseline.expire_at(home, user.payload, expires_at);
        }
        self.population.release(slot);
    }
}
