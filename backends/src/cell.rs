//! [`Cell`]: a cell of the common kinds in two machine words, the fast path from a row to a
//! decoder. It knows nothing of values, rows or errors, so every other module may use it.

use std::marker::PhantomData;

/// A cell of one of the common kinds (NULL, integer, float, text) in two machine words;
/// anything else, including a cell that cannot be read, is [`Cell::OTHER`], and the decoder
/// then asks [`Row::value_ref`](crate::Row::value_ref), which says what is wrong.
///
/// Why two words and not a [`ValueRef`](crate::ValueRef): a 24-byte `Result<ValueRef>` comes back from a call
/// through `&dyn Row` in memory, and the decoder then copied it with 16-byte loads across the
/// callee's narrower stores. Such a load cannot be forwarded from the store buffer and waits
/// for the stores to retire; `perf annotate` put half of a derived `from_row`'s time on those
/// loads. Two words come back in registers.
///
/// ```
/// use orm_backends::{Cell, CellRef};
/// let s = String::from("text");
/// assert_eq!(Cell::text(&s).get(), CellRef::Text("text"));
/// assert_eq!(Cell::int(-7).get(), CellRef::Int(-7));
/// assert_eq!(Cell::NULL.get(), CellRef::Null);
/// assert_eq!(Cell::OTHER.get(), CellRef::Other);
/// ```
#[derive(Clone, Copy)]
pub struct Cell<'a> {
    /// The integer, the float's bits, or the text's address.
    word: u64,
    /// The kind in the low [`KIND_BITS`] bits, a text's length above them.
    tagged: usize,
    _text: PhantomData<&'a str>,
}

const KIND_BITS: u32 = 3;
const NULL: usize = 0;
const INT: usize = 1;
const FLOAT: usize = 2;
const TEXT: usize = 3;
const OTHER: usize = 4;

/// What a [`Cell`] holds, as an enum to match on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum CellRef<'a> {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// Text.
    Text(&'a str),
    /// Any other kind: read the cell with [`Row::value_ref`](crate::Row::value_ref).
    Other,
}

impl<'a> Cell<'a> {
    /// SQL NULL.
    pub const NULL: Cell<'static> = Cell { word: 0, tagged: NULL, _text: PhantomData };
    /// A cell of another kind, or one that could not be read.
    pub const OTHER: Cell<'static> = Cell { word: 0, tagged: OTHER, _text: PhantomData };

    /// An integer cell.
    #[inline]
    pub fn int(i: i64) -> Self {
        Cell { word: i as u64, tagged: INT, _text: PhantomData }
    }

    /// A float cell.
    #[inline]
    pub fn float(f: f64) -> Self {
        Cell { word: f.to_bits(), tagged: FLOAT, _text: PhantomData }
    }

    /// A text cell (text too long to tag, which no memory can hold, is [`Cell::OTHER`]).
    #[inline]
    pub fn text(s: &'a str) -> Self {
        if s.len() > usize::MAX >> KIND_BITS {
            return Cell::OTHER;
        }
        Cell { word: s.as_ptr() as usize as u64, tagged: (s.len() << KIND_BITS) | TEXT, _text: PhantomData }
    }

    /// What the cell holds.
    #[inline]
    pub fn get(self) -> CellRef<'a> {
        match self.tagged & ((1 << KIND_BITS) - 1) {
            NULL => CellRef::Null,
            INT => CellRef::Int(self.word as i64),
            FLOAT => CellRef::Float(f64::from_bits(self.word)),
            TEXT => {
                let len = self.tagged >> KIND_BITS;
                // SAFETY: a TEXT cell is made only by `Cell::text` from a `&'a str` of this
                // address and length, so the bytes are that string's, valid UTF-8, for 'a.
                CellRef::Text(unsafe {
                    std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.word as usize as *const u8, len))
                })
            }
            _ => CellRef::Other,
        }
    }
}

impl std::fmt::Debug for Cell<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}
