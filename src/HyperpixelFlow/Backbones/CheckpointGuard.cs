using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace HyperpixelFlow.Backbones;

/// <summary>
/// Checks a weights file from anywhere before the third-party readers (TorchSharp.PyBridge) see it, so that a bad
/// file is refused with a clear error instead of making them allocate what it declares or run what it names:
/// <list type="bullet">
/// <item>.pth (a zip archive with a pickle): the pickle may use only the opcodes a state_dict needs and name only the
/// globals that rebuild tensors (anything else is refused by name); every storage it refers to must be an entry of the
/// archive at least as large as its declared elements, and every tensor must lie inside its storage; entries may not
/// decompress to far more than they occupy.</item>
/// <item>.safetensors: the header's length, JSON, data types, shapes and offsets must agree with the file.</item>
/// </list>
/// </summary>
internal static class CheckpointGuard
{
    private static readonly Dictionary<string, int> StorageElementBytes = new(StringComparer.Ordinal)
    {
        ["FloatStorage"] = 4, ["DoubleStorage"] = 8, ["HalfStorage"] = 2, ["BFloat16Storage"] = 2, ["LongStorage"] = 8,
        ["IntStorage"] = 4, ["ShortStorage"] = 2, ["CharStorage"] = 1, ["ByteStorage"] = 1, ["BoolStorage"] = 1,
    };

    private static readonly HashSet<string> Rebuilders = new(StringComparer.Ordinal)
    {
        "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor", "torch._utils._rebuild_parameter", "collections.OrderedDict",
    };

    private static readonly Dictionary<string, int> SafetensorsElementBytes = new(StringComparer.Ordinal)
    {
        ["F64"] = 8, ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2, ["I64"] = 8, ["I32"] = 4, ["I16"] = 2, ["I8"] = 1, ["U8"] = 1, ["BOOL"] = 1,
    };

    private const long MaxPickleBytes = 64L << 20;
    private const int MaxEntries = 100_000;

    /// <summary>Refuses a .safetensors file whose header does not describe its own data.</summary>
    public static void CheckSafetensors(string path)
    {
        try { CheckSafetensorsHeader(path); }
        catch (InvalidOperationException e) { throw Bad(path, $"its header is not valid JSON text ({e.Message})"); }
    }

    private static void CheckSafetensorsHeader(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> head = stackalloc byte[8];
        if (stream.Read(head) != 8) throw Bad(path, "shorter than the 8-byte header length");
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(head);
        if (headerLength > (ulong)(stream.Length - 8) || headerLength > 100_000_000) throw Bad(path, $"a header of {headerLength} bytes in a file of {stream.Length}");
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        long dataLength = stream.Length - 8 - (long)headerLength;
        JsonElement json;
        try { json = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 }).RootElement; }
        catch (JsonException e) { throw Bad(path, $"its header is not JSON ({e.Message.Split(". ")[0]})"); }
        if (json.ValueKind != JsonValueKind.Object) throw Bad(path, "its header is not a JSON object");
        foreach (var entry in json.EnumerateObject())
        {
            if (entry.Name == "__metadata__") continue;
            var t = entry.Value;
            if (t.ValueKind != JsonValueKind.Object || !t.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String
                || !t.TryGetProperty("shape", out var shape) || shape.ValueKind != JsonValueKind.Array
                || !t.TryGetProperty("data_offsets", out var offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
                throw Bad(path, $"tensor '{entry.Name}' lacks dtype, shape or data_offsets");
            if (!SafetensorsElementBytes.TryGetValue(dtype.GetString()!, out int size))
                throw Bad(path, $"tensor '{entry.Name}' has the unsupported dtype '{dtype.GetString()}'");
            long elements = 1;
            foreach (var d in shape.EnumerateArray())
            {
                if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out long n) || n < 0 || n > dataLength)
                    throw Bad(path, $"tensor '{entry.Name}' has a bad dimension {d}");
                elements = n == 0 ? 0 : elements > dataLength / n ? long.MaxValue : elements * n;
            }
            if (!offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin || end > dataLength)
                throw Bad(path, $"tensor '{entry.Name}' has data offsets outside the file");
            if (elements == long.MaxValue || elements * size != end - begin)
                throw Bad(path, $"tensor '{entry.Name}' declares {string.Join("x", shape.EnumerateArray())} {dtype.GetString()} values in {end - begin} bytes");
        }
    }

    /// <summary>Refuses a .pth archive whose pickle does more than rebuild tensors, or whose tensors do not fit their storages.</summary>
    public static void CheckPth(string path)
    {
        // The archive's directory is read as it is walked: a damaged one fails anywhere in here.
        try { CheckArchive(path); }
        catch (Exception e) when (e is InvalidDataException or IOException or ArgumentException) { throw Bad(path, $"not a readable zip archive ({e.Message})"); }
    }

    private static void CheckArchive(string path)
    {
        using var archive = ZipFile.OpenRead(path);
        if (archive.Entries.Count > MaxEntries) throw Bad(path, $"{archive.Entries.Count} entries");
        foreach (var entry in archive.Entries)
            if (entry.Length > 64 * entry.CompressedLength + (1 << 20))
                throw Bad(path, $"entry {entry.FullName} would expand from {entry.CompressedLength} to {entry.Length} bytes");
        var pickle = archive.Entries.Where(e => e.FullName.EndsWith("data.pkl", StringComparison.Ordinal)).ToList();
        if (pickle.Count != 1) throw Bad(path, pickle.Count == 0 ? "no data.pkl in the archive" : "several data.pkl in the archive");
        if (pickle[0].Length > MaxPickleBytes) throw Bad(path, $"a pickle of {pickle[0].Length} bytes");
        string prefix = pickle[0].FullName[..^"data.pkl".Length];
        var bytes = new byte[pickle[0].Length];
        using (var stream = pickle[0].Open()) stream.ReadExactly(bytes);
        long StorageBytes(string key) =>
            archive.GetEntry(prefix + "data/" + key)?.Length ?? throw Bad(path, $"the pickle refers to storage '{key}', which the archive lacks");
        new PickleCheck(path, bytes, StorageBytes).Run();
    }

    private static HyperpixelFlowException Bad(string path, string problem) => new($"{path}: not a readable .pth or .safetensors state_dict ({problem})");

    /// <summary>
    /// Walks a pickle without running it: a stack of the few values a state_dict's pickle builds (strings, integers,
    /// globals, tuples, storages; everything else opaque), refusing any other opcode or global by name.
    /// </summary>
    private sealed class PickleCheck(string path, byte[] data, Func<string, long> storageBytes)
    {
        private sealed record Mark;
        private sealed record Global(string Name);
        private sealed record Storage(long Elements);
        private sealed record Opaque;
        private static readonly Mark MarkValue = new();
        private static readonly Opaque OpaqueValue = new();

        private readonly List<object> _stack = [];
        private readonly Dictionary<long, object> _memo = [];
        private int _at;

        public void Run()
        {
            while (true)
            {
                if (_at >= data.Length) throw Bad(path, "the pickle ends without STOP");
                if (_stack.Count > 1_000_000 || _memo.Count > 1_000_000) throw Bad(path, "the pickle is too deep");
                byte op = data[_at++];
                switch (op)
                {
                    case 0x80: Take(1); break;                                        // PROTO
                    case 0x95: Take(8); break;                                        // FRAME
                    case (byte)'}': case (byte)']': Push(OpaqueValue); break;         // EMPTY_DICT, EMPTY_LIST
                    case (byte)')': Push(new List<object>()); break;                  // EMPTY_TUPLE
                    case (byte)'q': _memo[Take(1)[0]] = Top(); break;                 // BINPUT
                    case (byte)'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(Take(4))] = Top(); break;   // LONG_BINPUT
                    case 0x94: _memo[_memo.Count] = Top(); break;                     // MEMOIZE
                    case (byte)'h': Push(Memo(Take(1)[0])); break;                    // BINGET
                    case (byte)'j': Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;   // LONG_BINGET
                    case (byte)'(': Push(MarkValue); break;                           // MARK
                    case (byte)'X': case (byte)'T':                                   // BINUNICODE, BINSTRING
                        Push(Text(BinaryPrimitives.ReadUInt32LittleEndian(Take(4)))); break;
                    case 0x8c: case (byte)'U': Push(Text(Take(1)[0])); break;         // SHORT_BINUNICODE, SHORT_BINSTRING
                    case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(Take(4))); break;   // BININT
                    case (byte)'K': Push((long)Take(1)[0]); break;                    // BININT1
                    case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(Take(2))); break;  // BININT2
                    case 0x8a:                                                        // LONG1
                        {
                            int n = Take(1)[0];
                            if (n > 8) throw Bad(path, $"an integer of {n} bytes in the pickle");
                            var bytes = Take(n);
                            long value = 0;
                            for (int i = n - 1; i >= 0; i--) value = (value << 8) | bytes[i];
                            if (n is > 0 and < 8 && (bytes[n - 1] & 0x80) != 0) value -= 1L << (8 * n);
                            Push(value);
                            break;
                        }
                    case (byte)'G': Take(8); Push(OpaqueValue); break;                // BINFLOAT
                    case 0x88: case 0x89: case (byte)'N': Push(OpaqueValue); break;   // NEWTRUE, NEWFALSE, NONE
                    case (byte)'c':                                                   // GLOBAL
                        {
                            string name = Line() + "." + Line();
                            if (!Rebuilders.Contains(name) && !(name.StartsWith("torch.", StringComparison.Ordinal) && StorageElementBytes.ContainsKey(name["torch.".Length..])))
                                throw Bad(path, $"the pickle names '{name}', which a state_dict of tensors never needs");
                            Push(new Global(name));
                            break;
                        }
                    case (byte)'t': Push(PopToMark()); break;                         // TUPLE
                    case 0x85: Push(Pop(1)); break;                                   // TUPLE1
                    case 0x86: Push(Pop(2)); break;                                   // TUPLE2
                    case 0x87: Push(Pop(3)); break;                                   // TUPLE3
                    case (byte)'Q': Push(PersistentStorage(PopValue())); break;       // BINPERSID
                    case (byte)'R':                                                   // REDUCE
                        {
                            var args = PopValue();
                            if (PopValue() is not Global callable) throw Bad(path, "the pickle calls something that is not a global");
                            if (callable.Name is "torch._utils._rebuild_tensor_v2" or "torch._utils._rebuild_tensor") CheckTensor(args);
                            Push(OpaqueValue);
                            break;
                        }
                    case (byte)'s': Pop(2); Top(); break;                             // SETITEM
                    case (byte)'u': case (byte)'e': PopToMark(); Top(); break;        // SETITEMS, APPENDS
                    case (byte)'a': Pop(1); Top(); break;                             // APPEND
                    case (byte)'b': Pop(1); Top(); break;                             // BUILD
                    case (byte)'.': return;                                           // STOP
                    default: throw Bad(path, $"the pickle uses opcode 0x{op:x2} at byte {_at - 1}, which a state_dict of tensors never needs");
                }
            }
        }

        private void CheckTensor(object args)
        {
            if (args is not List<object> { Count: >= 4 } a || a[0] is not Storage storage || a[1] is not long offset
                || a[2] is not List<object> size || a[3] is not List<object> stride || size.Count != stride.Count
                || size.Any(v => v is not long n || n < 0) || stride.Any(v => v is not long n || n < 0))
                throw Bad(path, "a tensor is rebuilt from arguments that are not (storage, offset, sizes, strides)");
            if (offset < 0 || offset > storage.Elements) throw Bad(path, $"a tensor starts at element {offset} of a storage of {storage.Elements}");
            if (size.Any(v => (long)v == 0)) return;
            long last = offset;
            for (int i = 0; i < size.Count; i++)
            {
                long extent = ((long)size[i] - 1) * (long)stride[i];
                if ((long)stride[i] != 0 && ((long)size[i] - 1) > storage.Elements / Math.Max((long)stride[i], 1)) last = long.MaxValue;
                else last += extent;
                if (last < 0 || last >= storage.Elements) throw Bad(path, $"a tensor of sizes [{string.Join(",", size)}] runs past its storage of {storage.Elements} elements");
            }
        }

        private Storage PersistentStorage(object id)
        {
            if (id is not List<object> { Count: 5 } t || t[0] is not string { } kind || kind != "storage" || t[1] is not Global type
                || t[2] is not string key || t[4] is not long elements)
                throw Bad(path, "a persistent id that is not ('storage', type, key, location, elements)");
            string typeName = type.Name.StartsWith("torch.", StringComparison.Ordinal) ? type.Name["torch.".Length..] : "";
            if (!StorageElementBytes.TryGetValue(typeName, out int size)) throw Bad(path, $"storage of type '{type.Name}'");
            long available = storageBytes(key);
            if (elements < 0 || elements > available / size)
                throw Bad(path, $"storage '{key}' declares {elements} elements of {size} bytes in an entry of {available} bytes");
            return new Storage(elements);
        }

        private ReadOnlySpan<byte> Take(int n)
        {
            if (n < 0 || n > data.Length - _at) throw Bad(path, "the pickle is cut short");
            var span = data.AsSpan(_at, n);
            _at += n;
            return span;
        }

        private string Text(uint length)
        {
            if (length > (uint)(data.Length - _at)) throw Bad(path, "a string runs past the end of the pickle");
            return Encoding.UTF8.GetString(Take((int)length));
        }

        private string Line()
        {
            int end = Array.IndexOf(data, (byte)'\n', _at);
            if (end < 0 || end - _at > 256) throw Bad(path, "a global name without its end");
            string line = Encoding.ASCII.GetString(data, _at, end - _at);
            _at = end + 1;
            return line;
        }

        private object Memo(long key) => _memo.TryGetValue(key, out var value) ? value : throw Bad(path, $"the pickle reads memo {key}, never written");
        private void Push(object value) => _stack.Add(value);

        private object Top() => _stack.Count > 0 && _stack[^1] is not Mark ? _stack[^1] : throw Bad(path, "the pickle's stack runs empty");

        private object PopValue()
        {
            var value = Top();
            _stack.RemoveAt(_stack.Count - 1);
            return value;
        }

        private List<object> Pop(int n)
        {
            var values = new List<object>();
            for (int i = 0; i < n; i++) values.Insert(0, PopValue());
            return values;
        }

        private List<object> PopToMark()
        {
            int mark = _stack.FindLastIndex(v => v is Mark);
            if (mark < 0) throw Bad(path, "the pickle closes a mark it never opened");
            var values = _stack.GetRange(mark + 1, _stack.Count - mark - 1);
            _stack.RemoveRange(mark, _stack.Count - mark);
            return values;
        }
    }
}
