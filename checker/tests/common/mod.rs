//! Helpers shared by the checker's tests: a brute-force oracle, and the relaxed history an
//! explanation's set stands for.

use checker::history::{Operation, Status};
use checker::model::{Model, Register};

/// Every order of the operations that respects real time, with each unknown-outcome operation
/// either placed or left out.
pub fn brute_force(model: &Register, operations: &[Operation]) -> bool {
    fn extend(
        model: &Register,
        operations: &[Operation],
        used: &mut Vec<bool>,
        state: &checker::value::Value,
    ) -> bool {
        if operations
            .iter()
            .zip(used.iter())
            .all(|(operation, &used)| used || operation.status == Status::Info)
        {
            return true;
        }
        for index in 0..operations.len() {
            if used[index] {
                continue;
            }
            // It may go next only if no unused completed operation returned before it was called.
            let blocked = operations.iter().enumerate().any(|(other, earlier)| {
                !used[other]
                    && earlier.status == Status::Ok
                    && earlier.ret.is_some_and(|ret| ret < operations[index].call)
            });
            if blocked {
                continue;
            }
            if let Some(next) = model.step(state, &operations[index]) {
                used[index] = true;
                let found = extend(model, operations, used, &next);
                used[index] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    let relevant: Vec<Operation> =
        operations.iter().filter(|operation| !model.is_inert(operation)).cloned().collect();
    let mut used = vec![false; relevant.len()];
    extend(model, &relevant, &mut used, &model.init())
}

/// The operations with only those of `core` (ids) completed, as an explanation relaxes them: the
/// others' outcomes unknown, and reads not in `core` left out (they observe nothing).
pub fn relaxed(operations: &[Operation], core: &[usize]) -> Vec<Operation> {
    operations
        .iter()
        .filter(|operation| core.contains(&operation.id) || operation.f != checker::history::Function::Read)
        .map(|operation| {
            let mut operation = operation.clone();
            if !core.contains(&operation.id) {
                operation.status = Status::Info;
                operation.ret = None;
                operation.output = checker::value::Value::Nil;
            }
            operation
        })
        .collect()
}
