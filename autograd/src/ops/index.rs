//! Indexing: `index_select` (embedding lookup) and `gather`, whose gradients scatter-add
//! the incoming gradient back to the rows they read.

use crate::var::{Backward, Var};
use tensor::{Result, Tensor};

enum Index {
    /// y = x.index_select(ids, dim): dx = zeros.index_add(ids, g, dim)
    Select { ids: Tensor },
    /// y = x.gather(index, dim): dx = zeros.scatter_add(index, g, dim)
    Gather { index: Tensor },
}

struct IndexBackward {
    op: Index,
    dims: Vec<usize>,
    dim: usize,
}

impl Backward for IndexBackward {
    fn name(&self) -> &'static str {
        match self.op {
            Index::Select { .. } => "index_select",
            Index::Gather { .. } => "gather",
        }
    }
    fn backward(&self, g: &[Option<Tensor>], _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let Some(g) = &g[0] else { return Ok(vec![None]) };
        let zeros = Tensor::zeros(self.dims.as_slice(), g.dtype(), &g.device())?;
        let gx = match &self.op {
            Index::Select { ids } => zeros.index_add(ids, g, self.dim)?,
            Index::Gather { index } => zeros.scatter_add(index, g, self.dim)?,
        };
        Ok(vec![Some(gx)])
    }
}

impl Var {
    pub fn index_select(&self, ids: &Tensor, dim: usize) -> Result<Var> {
        let y = self.value().index_select(ids, dim)?;
        Ok(Var::from_op1(
            IndexBackward {
                op: Index::Select { ids: ids.clone() },
                dims: self.dims().to_vec(),
                dim,
            },
            &[self],
            y,
        ))
    }
    pub fn gather(&self, index: &Tensor, dim: usize) -> Result<Var> {
        let y = self.value().gather(index, dim)?;
        Ok(Var::from_op1(
            IndexBackward {
                op: Index::Gather { index: index.clone() },
                dims: self.dims().to_vec(),
                dim,
            },
            &[self],
            y,
        ))
    }
}
