//! The lifecycle state machine of the reference model: for each call, the
//! SQLSTATE the database must give and the event it must write. Who may call
//! what comes from docs/permissions.tsv (the lifecycle.* rows), checked in the
//! order the README gives: not found, role, state, then whose claim it is.

use super::{Conversation, Event, Expect, Model, Op};

impl Model {
    /// The conversation, if `user` sees it: a member of its workspace, or
    /// support staff serving it (the matrix's staff column).
    fn visible_with_role(&self, id: &str, user: &str) -> Option<(Conversation, &'static str)> {
        let c = self.conversations.get(id).filter(|c| !c.deleted)?;
        let subject = self.subject(&c.workspace, user)?;
        Some((c.clone(), subject))
    }

    #[allow(clippy::too_many_arguments)]
    fn transition(
        &mut self,
        id: &str,
        kind: &str,
        to_status: &'static str,
        to_owner: Option<String>,
        actor: &str,
        reason: Option<String>,
        new_wait: Option<u64>,
        reopen: bool,
    ) -> Expect {
        let c = self.conversations.get_mut(id).expect("known conversation");
        self.events.push(Event {
            workspace: c.workspace.clone(),
            conversation: id.to_string(),
            kind: kind.to_string(),
            from_status: Some(c.status.into()),
            to_status: Some(to_status.into()),
            from_owner: c.claimed_by.clone(),
            to_owner: to_owner.clone(),
            actor: Some(actor.to_string()),
            reason,
        });
        c.status = to_status;
        c.claimed_by = to_owner;
        if new_wait.is_some() {
            c.escalated_tick = new_wait;
        }
        if reopen {
            c.reopen_count += 1;
        }
        Expect {
            state: "00000",
            row: Some((id.to_string(), to_status.to_string(), c.claimed_by.clone())),
        }
    }

    fn unchanged(&self, id: &str) -> Expect {
        let c = &self.conversations[id];
        Expect {
            state: "00000",
            row: Some((id.to_string(), c.status.to_string(), c.claimed_by.clone())),
        }
    }

    /// The matrix's answer for a call on conversation `c` by `u`: the
    /// function's gate first (42501 unless one of `actions` allows the
    /// subject), as the README orders the checks: not found, role, state,
    /// then whose claim it is.
    fn gate(&self, c: &Conversation, u: &str, actions: &[&str]) -> Option<Expect> {
        let allowed = actions.iter().any(|a| self.may(&c.workspace, u, a));
        (!allowed).then(|| Expect::err("42501"))
    }

    /// The cell for an action on a claimed conversation: `own` when `u`
    /// holds it, else `other` (a supervisor action).
    fn whose(&self, c: &Conversation, u: &str, own: &str, other: &str) -> Option<Expect> {
        let action = if c.claimed_by.as_deref() == Some(u) {
            own
        } else {
            other
        };
        match self.verdict(&c.workspace, u, action) {
            Some("00000") => None,
            Some(state) => Some(Expect::err(state)),
            None => Some(Expect::err("P0002")),
        }
    }

    /// Applies one lifecycle call by `actor` (None: nobody) to the model and
    /// says what the database must answer (README: lifecycle and errors;
    /// docs/permissions.tsv: who may).
    pub fn lifecycle(&mut self, actor: Option<&str>, op: &Op) -> Expect {
        let tick = self.next_tick();
        let Some(u) = actor else {
            return Expect::err("28000");
        };
        match op {
            Op::Escalate(id, reason) => {
                let Some((c, _)) = self.visible_with_role(id, u) else {
                    return Expect::err("P0002");
                };
                if let Some(e) = self.gate(&c, u, &["lifecycle.escalate"]) {
                    return e;
                }
                if c.status != "active" {
                    return Expect::err("55000");
                }
                self.transition(
                    id,
                    "escalated",
                    "escalated",
                    None,
                    u,
                    reason.clone(),
                    Some(tick),
                    false,
                )
            }
            Op::Claim(id) => {
                let Some((c, _)) = self.visible_with_role(id, u) else {
                    return Expect::err("P0002");
                };
                if let Some(e) = self.gate(&c, u, &["lifecycle.claim"]) {
                    return e;
                }
                match (c.status, c.claimed_by.as_deref()) {
                    ("escalated", _) => self.transition(
                        id,
                        "claimed",
                        "claimed",
                        Some(u.to_string()),
                        u,
                        None,
                        None,
                        false,
                    ),
                    ("claimed", Some(owner)) if owner == u => self.unchanged(id),
                    ("claimed", _) => Expect::err("55006"),
                    _ => Expect::err("55000"),
                }
            }
            Op::ClaimNext(ws) => {
                let Some(verdict) = self.verdict(ws, u, "lifecycle.claim_next") else {
                    return Expect::err("P0002");
                };
                if verdict != "00000" {
                    return Expect::err(verdict);
                }
                let next = self
                    .live_conversations()
                    .filter(|c| &c.workspace == ws && c.status == "escalated")
                    .min_by(|a, b| (a.escalated_tick, &a.id).cmp(&(b.escalated_tick, &b.id)))
                    .map(|c| c.id.clone());
                match next {
                    None => Expect {
                        state: "00000",
                        row: None,
                    },
                    Some(id) => self.transition(
                        &id,
                        "claimed",
                        "claimed",
                        Some(u.to_string()),
                        u,
                        None,
                        None,
                        false,
                    ),
                }
            }
            Op::Release(id) => {
                let Some((c, _)) = self.visible_with_role(id, u) else {
                    return Expect::err("P0002");
                };
                let (own, other) = ("lifecycle.release_own", "lifecycle.release_other");
                if let Some(e) = self.gate(&c, u, &[own, other]) {
                    return e;
                }
                if c.status != "claimed" {
                    return Expect::err("55000");
                }
                if let Some(e) = self.whose(&c, u, own, other) {
                    return e;
                }
                self.transition(id, "released", "escalated", None, u, None, None, false)
            }
            Op::Transfer(id, to) => {
                let Some((c, _)) = self.visible_with_role(id, u) else {
                    return Expect::err("P0002");
                };
                let (own, other) = ("lifecycle.transfer_own", "lifecycle.transfer_other");
                if let Some(e) = self.gate(&c, u, &[own, other]) {
                    return e;
                }
                if c.status != "claimed" {
                    return Expect::err("55000");
                }
                if let Some(e) = self.whose(&c, u, own, other) {
                    return e;
                }
                // The target must be a member (docs/permissions.md: "a
                // non-member 22023"). Support staff serving the workspace
                // without being a member are not members (docs/permissions.tsv's
                // header): that they "act in it as a viewer" is about what
                // they do, and members cannot see them (support.users), so as a
                // target they answer like any other non-member.
                let Some(target) = self.member_subject(&c.workspace, to) else {
                    return Expect::err("22023");
                };
                let to_whom = match target {
                    "viewer" => Some("lifecycle.transfer_to_viewer"),
                    "bot" => Some("lifecycle.transfer_to_bot"),
                    _ => None,
                };
                if let Some(action) = to_whom {
                    let verdict = self.verdict(&c.workspace, u, action).unwrap_or("P0002");
                    if verdict != "00000" {
                        return Expect::err(verdict);
                    }
                }
                if c.claimed_by.as_deref() == Some(to.as_str()) {
                    return self.unchanged(id);
                }
                self.transition(
                    id,
                    "transferred",
                    "claimed",
                    Some(to.clone()),
                    u,
                    None,
                    None,
                    false,
                )
            }
            Op::Resolve(id) => {
                let Some((c, _)) = self.visible_with_role(id, u) else {
                    return Expect::err("P0002");
                };
                let (own, other, active) = (
                    "lifecycle.resolve_own",
                    "lifecycle.resolve_other",
                    "lifecycle.resolve_active",
                );
                if let Some(e) = self.gate(&c, u, &[own, other, active]) {
                    return e;
                }
                let refusal = match c.status {
                    "claimed" => self.whose(&c, u, own, other),
                    "active" => self.whose(&c, u, active, active),
                    _ => Some(Expect::err("55000")),
                };
                if let Some(e) = refusal {
                    return e;
                }
                self.transition(id, "resolved", "resolved", None, u, None, None, false)
            }
            Op::Reopen(id) => {
                let Some((c, _)) = self.visible_with_role(id, u) else {
                    return Expect::err("P0002");
                };
                if let Some(e) = self.gate(&c, u, &["lifecycle.reopen"]) {
                    return e;
                }
                if c.status != "resolved" {
                    return Expect::err("55000");
                }
                self.transition(id, "reopened", "escalated", None, u, None, Some(tick), true)
            }
        }
    }
}
