//! The output stream: one entry per source entry, at the id that is its position.
//!
//! Source entry number `p` (1-based, in the source's id order) becomes output entry
//! `0-p`, whose fields are `source-id` (the source entry's id) and then the source
//! entry's fields, in order. Keyed by position, an append is idempotent and a late
//! writer cannot reorder anything: Redis refuses an id at or below the stream's last.
//!
//! A batch is appended by one Lua script, which Redis runs atomically: for each
//! entry, an output entry already at its position must name the same source entry
//! (then it is left as it is: a batch a stopped run appended but never checkpointed,
//! or a zombie's), and a missing one is added. An entry at its position that names
//! another source entry, or a missing entry below the stream's last, is a stream that
//! is not this pipeline's output: the script refuses, changing nothing after the
//! entries before it.

use pipeline_checkpoint_host::backends::redis::{RedisCallError, RedisConnection, redis};

/// A source entry: its id and its fields, in order, as raw bytes.
pub(super) type Entry = (String, Vec<Vec<u8>>);

/// The field that names an output entry's source entry.
pub(super) const SOURCE_ID_FIELD: &str = "source-id";

/// The Redis error code with which the script refuses a stream that is not this
/// pipeline's output.
pub(super) const NOT_OUR_OUTPUT: &str = "NOTOUROUTPUT";

/// KEYS[1]: the output stream. ARGV, per entry: the output id, the source id, the
/// number of field and value strings, then those strings. Ids arrive as strings, so
/// Lua's floating-point numbers never format a position; they only compare positions,
/// exactly below 2^53.
const APPEND: &str = r#"
local out = KEYS[1]
-- The position of the stream's last entry: entries past it are simply added, and only
-- those at or below it (a batch appended before, in part or whole) are looked up.
local top = 0
local last = redis.call('XREVRANGE', out, '+', '-', 'COUNT', 1)
if #last == 1 then
  local ms, seq = string.match(last[1][1], '^(%d+)-(%d+)$')
  if ms ~= '0' then
    return redis.error_reply('NOTOUROUTPUT ' .. out .. ' ends with entry ' .. last[1][1] ..
      ', which is no position')
  end
  top = tonumber(seq)
end
local i, written, present = 1, 0, 0
while i <= #ARGV do
  local id, source_id, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local position = tonumber(string.sub(id, 3))
  if position <= top then
    local existing = redis.call('XRANGE', out, id, id)
    if #existing == 0 then
      return redis.error_reply('NOTOUROUTPUT ' .. out .. ' has entries past ' .. id ..
        ' but not ' .. id)
    end
    local fields = existing[1][2]
    if fields[1] ~= 'source-id' or fields[2] ~= source_id then
      return redis.error_reply('NOTOUROUTPUT entry ' .. id .. ' of ' .. out ..
        ' is not source entry ' .. source_id)
    end
    present = present + 1
  else
    local add = {'XADD', out, id, 'source-id', source_id}
    for j = 1, n do add[#add + 1] = ARGV[i + 2 + j] end
    redis.call(unpack(add))
    written = written + 1
  end
  i = i + 3 + n
end
return {written, present}
"#;

/// The output id of source entry number `position` (1-based).
pub(super) fn output_id(position: u64) -> String {
    format!("0-{position}")
}

/// The output stream, over its own connection.
pub(super) struct Output {
    connection: RedisConnection,
    append: redis::Script,
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Appended {
    /// Entries added.
    pub(super) written: u64,
    /// Entries that were there already, for the same source entries.
    pub(super) present: u64,
}

impl Output {
    pub(super) fn new(connection: RedisConnection) -> Self {
        Self {
            connection,
            append: redis::Script::new(APPEND),
        }
    }

    /// The stream's name.
    pub(super) fn stream(&self) -> &str {
        &self.connection.url().stream
    }

    /// The id of the source entry at `position`, from the output entry there; `None`
    /// if there is none.
    pub(super) async fn source_id_at(
        &mut self,
        position: u64,
    ) -> Result<Option<String>, RedisCallError> {
        let id = output_id(position);
        let mut xrange = redis::cmd("XRANGE");
        xrange.arg(self.stream()).arg(&id).arg(&id);
        let found: Vec<Entry> = self
            .connection
            .idempotent("XRANGE on the output", &xrange)
            .await?;
        Ok(found.into_iter().next().and_then(|(_, fields)| {
            let mut pairs = fields.chunks_exact(2);
            pairs
                .next()
                .filter(|pair| pair[0] == SOURCE_ID_FIELD.as_bytes())
                .and_then(|pair| String::from_utf8(pair[1].clone()).ok())
        }))
    }

    /// Appends `entries`, the first at `first_position`, durably once Redis answers
    /// (the server's `appendfsync` decides how durable that is).
    pub(super) async fn append(
        &mut self,
        first_position: u64,
        entries: &[Entry],
    ) -> Result<Appended, RedisCallError> {
        let mut invocation = self.append.key(self.stream());
        for (offset, (id, fields)) in entries.iter().enumerate() {
            invocation
                .arg(output_id(first_position + offset as u64))
                .arg(id)
                .arg(fields.len())
                .arg(fields);
        }
        // The script skips entries already in place, so it may run twice.
        let (written, present): (u64, u64) = self
            .connection
            .idempotent("appending to the output", &invocation)
            .await?;
        Ok(Appended { written, present })
    }
}
