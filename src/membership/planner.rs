//! What the planner knows about the policies' call (the planner support
//! function, `prosupport`, of `support.workspace_member`).
//!
//! Every policy is `support.workspace_member(workspace_id)`: no sub-select
//! (Citus refuses those in policies). The call runs once per row; what it
//! reads is resolved cheaply per row (see the function).
//!
//! - **Index condition.** On an index whose leading column is the row's
//!   `workspace_id` (a btree, which searches arrays), the call is equivalent
//!   to `workspace_id = ANY (support.member_workspaces())`: both read the
//!   same cached set under the same snapshot. That condition is offered,
//!   exact (not lossy), so a scan over "all my workspaces" descends the index
//!   once per workspace instead of reading the table; the executor evaluates
//!   the array once per scan. It is **not** offered when the query already
//!   pins `workspace_id` (an equality or `= ANY` on it, or an equivalence
//!   with another column, as in a join or a LATERAL inbox): there the call
//!   stays a per-row probe, and a scan never walks the caller's whole
//!   membership array once per outer row (what made the per-workspace inbox
//!   quadratic).
//! - **Selectivity.** The estimate of `workspace_id = ANY (array)` for an array
//!   the planner does not know: the same for every caller of a cached plan.
//!
//! Nothing here decides which rows are visible: the index condition is
//! equivalent to the call, which stays in the plan as well.

use pgrx::datum::Internal;
use pgrx::pg_sys::{self, NodeTag};
use pgrx::prelude::*;
use pgrx::{is_a, PgList};

/// pg_opfamily `uuid_ops` of btree (a fixed OID of PostgreSQL's catalog).
const UUID_BTREE_FAMILY: u32 = 2968;

/// `support.workspace_member_support(internal)`: the planner support function
/// of `support.workspace_member(uuid)`. Internal.
#[pg_extern(immutable, strict, parallel_safe, requires = ["schema"])]
pub fn workspace_member_support(request: Internal) -> Internal {
    let Some(datum) = request.unwrap() else {
        return not_handled();
    };
    let node = datum.cast_mut_ptr::<pg_sys::Node>();
    // SAFETY: the planner passes a valid support request node.
    unsafe {
        if is_a(node, NodeTag::T_SupportRequestIndexCondition) {
            return index_condition(node.cast());
        }
        if is_a(node, NodeTag::T_SupportRequestSelectivity) {
            return selectivity(node.cast());
        }
    }
    not_handled()
}

/// A NULL pointer (not an SQL NULL): "no answer", as the planner expects.
fn not_handled() -> Internal {
    Internal::from(Some(pg_sys::Datum::from(0usize)))
}

/// `workspace_id = ANY (support.member_workspaces())` for the column `arg`,
/// with the btree equality operator `opno`; None if the function is missing.
unsafe fn member_array_clause(
    arg: *mut pg_sys::Node,
    opno: pg_sys::Oid,
) -> Option<*mut pg_sys::Node> {
    let mut name = PgList::<pg_sys::Node>::new();
    name.push(pg_sys::makeString(pg_sys::pstrdup(c"support".as_ptr())).cast());
    name.push(pg_sys::makeString(pg_sys::pstrdup(c"member_workspaces".as_ptr())).cast());
    let no_args = [pg_sys::InvalidOid];
    let func = pg_sys::LookupFuncName(name.into_pg(), 0, no_args.as_ptr(), true);
    if func == pg_sys::InvalidOid {
        return None;
    }
    let call = pg_sys::makeFuncExpr(
        func,
        pg_sys::UUIDARRAYOID,
        std::ptr::null_mut(),
        pg_sys::InvalidOid,
        pg_sys::InvalidOid,
        pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
    );
    Some(any_clause(arg, opno, call.cast()))
}

/// The same clause for estimation only: the array is an opaque parameter, so
/// the estimate is PostgreSQL's for an array it does not know (ten elements),
/// the same for every caller of a cached plan. With the function call the
/// estimator would run it (it evaluates stable functions) and price each of
/// the planning user's workspaces: milliseconds of planning at thousands of
/// memberships, for an estimate that fits only that user.
unsafe fn estimate_clause(arg: *mut pg_sys::Node, opno: pg_sys::Oid) -> *mut pg_sys::Node {
    let mut param = PgBox::<pg_sys::Param>::alloc_node(NodeTag::T_Param);
    param.paramkind = pg_sys::ParamKind::PARAM_EXEC;
    param.paramid = 0;
    param.paramtype = pg_sys::UUIDARRAYOID;
    param.paramtypmod = -1;
    param.paramcollid = pg_sys::InvalidOid;
    param.location = -1;
    any_clause(arg, opno, param.into_pg().cast())
}

/// `arg = ANY (array)` with the equality operator `opno`.
unsafe fn any_clause(
    arg: *mut pg_sys::Node,
    opno: pg_sys::Oid,
    array: *mut pg_sys::Node,
) -> *mut pg_sys::Node {
    let mut args = PgList::<pg_sys::Node>::new();
    args.push(pg_sys::copyObjectImpl(arg.cast()).cast());
    args.push(array);
    let mut saop = PgBox::<pg_sys::ScalarArrayOpExpr>::alloc_node(NodeTag::T_ScalarArrayOpExpr);
    saop.opno = opno;
    saop.opfuncid = pg_sys::get_opcode(opno);
    saop.hashfuncid = pg_sys::InvalidOid;
    saop.negfuncid = pg_sys::InvalidOid;
    saop.useOr = true;
    saop.inputcollid = pg_sys::InvalidOid;
    saop.args = args.into_pg();
    saop.location = -1;
    saop.into_pg().cast()
}

/// The call's argument, if it is a plain column of the relation being planned.
unsafe fn column(args: *mut pg_sys::List) -> Option<*mut pg_sys::Var> {
    let args = PgList::<pg_sys::Node>::from_pg(args);
    let arg = args.get_ptr(0)?;
    if is_a(arg, NodeTag::T_Var) {
        let var = arg.cast::<pg_sys::Var>();
        ((*var).varlevelsup == 0).then_some(var)
    } else {
        None
    }
}

/// `expr`, past any binary-compatible relabelling, if it is a column of the
/// query level being planned (the same relation as `var`).
unsafe fn column_of_rel(
    expr: *mut pg_sys::Node,
    var: *const pg_sys::Var,
) -> Option<*mut pg_sys::Var> {
    let mut expr = expr;
    while !expr.is_null() && is_a(expr, NodeTag::T_RelabelType) {
        expr = (*expr.cast::<pg_sys::RelabelType>()).arg.cast();
    }
    if expr.is_null() || !is_a(expr, NodeTag::T_Var) {
        return None;
    }
    let other = expr.cast::<pg_sys::Var>();
    ((*other).varno == (*var).varno && (*other).varlevelsup == 0).then_some(other)
}

unsafe fn same_column(expr: *mut pg_sys::Node, var: *const pg_sys::Var) -> bool {
    column_of_rel(expr, var).is_some_and(|other| (*other).varattno == (*var).varattno)
}

/// Does the query already pin this column: an equality (or `= ANY`) among the
/// relation's restrictions, or an equivalence class that holds the column
/// together with a constant or another expression (a join, a LATERAL
/// reference)?
unsafe fn already_pinned(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    var: *const pg_sys::Var,
    opfamily: pg_sys::Oid,
) -> bool {
    let equality = |opno: pg_sys::Oid| {
        pg_sys::get_op_opfamily_strategy(opno, opfamily) == pg_sys::BTEqualStrategyNumber as i32
    };
    for ec in PgList::<pg_sys::EquivalenceClass>::from_pg((*root).eq_classes).iter_ptr() {
        let members = PgList::<pg_sys::EquivalenceMember>::from_pg((*ec).ec_members);
        if members.len() < 2 && !(*ec).ec_has_const {
            continue;
        }
        if members
            .iter_ptr()
            .any(|em| same_column((*em).em_expr.cast(), var))
        {
            return true;
        }
    }
    for rinfo in PgList::<pg_sys::RestrictInfo>::from_pg((*rel).baserestrictinfo).iter_ptr() {
        let clause = (*rinfo).clause.cast::<pg_sys::Node>();
        if is_a(clause, NodeTag::T_OpExpr) {
            let op = clause.cast::<pg_sys::OpExpr>();
            let args = PgList::<pg_sys::Node>::from_pg((*op).args);
            if args.len() == 2
                && equality((*op).opno)
                && (same_column(args.get_ptr(0).unwrap_or(std::ptr::null_mut()), var)
                    || same_column(args.get_ptr(1).unwrap_or(std::ptr::null_mut()), var))
            {
                return true;
            }
        } else if is_a(clause, NodeTag::T_ScalarArrayOpExpr) {
            let op = clause.cast::<pg_sys::ScalarArrayOpExpr>();
            let args = PgList::<pg_sys::Node>::from_pg((*op).args);
            if (*op).useOr
                && equality((*op).opno)
                && same_column(args.get_ptr(0).unwrap_or(std::ptr::null_mut()), var)
            {
                return true;
            }
        }
    }
    false
}

/// Does the query restrict another column that leads some index of the
/// relation (`id`, `conversation_id`, `claimed_by`, ...)? That index is the
/// way in, and the membership check a filter on its few rows: offering the
/// array as well would let a generic plan (which assumes ten workspaces)
/// combine it with that index and read every row of the caller's thousands
/// of workspaces.
unsafe fn served_by_another_index(rel: *mut pg_sys::RelOptInfo, var: *const pg_sys::Var) -> bool {
    let leading: Vec<i16> = PgList::<pg_sys::IndexOptInfo>::from_pg((*rel).indexlist)
        .iter_ptr()
        .filter(|index| (**index).ncolumns > 0 && !(**index).indexkeys.is_null())
        .map(|index| *(*index).indexkeys)
        .filter(|&attno| attno != 0 && attno != i32::from((*var).varattno))
        .filter_map(|attno| i16::try_from(attno).ok())
        .collect();
    let leads = |expr: *mut pg_sys::Node| {
        column_of_rel(expr, var).is_some_and(|other| leading.contains(&(*other).varattno))
    };
    for rinfo in PgList::<pg_sys::RestrictInfo>::from_pg((*rel).baserestrictinfo).iter_ptr() {
        let clause = (*rinfo).clause.cast::<pg_sys::Node>();
        let args = if is_a(clause, NodeTag::T_OpExpr) {
            (*clause.cast::<pg_sys::OpExpr>()).args
        } else if is_a(clause, NodeTag::T_ScalarArrayOpExpr) {
            (*clause.cast::<pg_sys::ScalarArrayOpExpr>()).args
        } else {
            continue;
        };
        if PgList::<pg_sys::Node>::from_pg(args).iter_ptr().any(leads) {
            return true;
        }
    }
    false
}

unsafe fn index_condition(req: *mut pg_sys::SupportRequestIndexCondition) -> Internal {
    let req = &mut *req;
    let index = &*req.index;
    if req.indexarg != 0 || req.indexcol != 0 || !index.amsearcharray {
        return not_handled();
    }
    if !is_a(req.node, NodeTag::T_FuncExpr) {
        return not_handled();
    }
    let call_args = (*req.node.cast::<pg_sys::FuncExpr>()).args;
    let Some(var) = column(call_args) else {
        return not_handled();
    };
    if already_pinned(req.root, index.rel, var, req.opfamily)
        || served_by_another_index(index.rel, var)
    {
        return not_handled();
    }
    let opno = pg_sys::get_opfamily_member(
        req.opfamily,
        pg_sys::UUIDOID,
        pg_sys::UUIDOID,
        pg_sys::BTEqualStrategyNumber as i16,
    );
    if opno == pg_sys::InvalidOid {
        return not_handled();
    }
    let Some(clause) = member_array_clause(var.cast(), opno) else {
        return not_handled();
    };
    req.lossy = false;
    let mut conditions = PgList::<pg_sys::Node>::new();
    conditions.push(clause);
    Internal::from(Some(pg_sys::Datum::from(conditions.into_pg())))
}

unsafe fn selectivity(req: *mut pg_sys::SupportRequestSelectivity) -> Internal {
    let r = &mut *req;
    if r.is_join {
        return not_handled();
    }
    let Some(var) = column(r.args) else {
        return not_handled();
    };
    let types = pg_sys::lookup_type_cache(pg_sys::UUIDOID, pg_sys::TYPECACHE_EQ_OPR as i32);
    if (*types).eq_opr == pg_sys::InvalidOid {
        return not_handled();
    }
    // A query that pins workspace_id, or reaches its rows through another
    // index (a conversation's messages, a row by id), asks about rows the
    // caller can see (or gets nothing): the check does not thin them out, and
    // estimating it as independent would make LIMIT plans read in the wrong
    // order (a transcript read whole and sorted instead of its newest 100).
    let varno = (*var).varno;
    if !r.root.is_null() && varno > 0 && varno < (*r.root).simple_rel_array_size {
        let rel = *(*r.root).simple_rel_array.add(varno as usize);
        let btree_uuid = pg_sys::Oid::from(UUID_BTREE_FAMILY);
        if !rel.is_null()
            && (already_pinned(r.root, rel, var, btree_uuid) || served_by_another_index(rel, var))
        {
            r.selectivity = 1.0;
            return Internal::from(Some(pg_sys::Datum::from(req)));
        }
    }
    let clause = estimate_clause(var.cast(), (*types).eq_opr);
    r.selectivity = pg_sys::clause_selectivity(r.root, clause, r.varRelid, r.jointype, r.sjinfo);
    Internal::from(Some(pg_sys::Datum::from(req)))
}
