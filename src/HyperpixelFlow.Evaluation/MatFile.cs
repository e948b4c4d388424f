using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace HyperpixelFlow.Evaluation;

/// <summary>A numeric MATLAB array, converted to double, column-major as stored.</summary>
internal sealed record MatArray(string Name, int[] Dims, double[] Data)
{
    public int Rows => Dims[0];
    public int Columns => Dims.Length > 1 ? Dims[1] : 1;
    public double this[int row, int column] => Data[column * Rows + row];
}

/// <summary>
/// Reader of MATLAB level-5 MAT-files (the format of PF-PASCAL's annotations): numeric matrices of any numeric class,
/// plain or zlib-compressed (miCOMPRESSED), either byte order. Other variables (structs, cells, strings) are skipped.
/// Spec: "MAT-File Format", MathWorks, level 5.
/// </summary>
internal static class MatFile
{
    private const int MiInt8 = 1, MiUInt8 = 2, MiInt16 = 3, MiUInt16 = 4, MiInt32 = 5, MiUInt32 = 6, MiSingle = 7,
        MiDouble = 9, MiInt64 = 12, MiUInt64 = 13, MiMatrix = 14, MiCompressed = 15;
    private const int MxStruct = 2, MxCell = 1, MxChar = 4, MxSparse = 5;

    public static IReadOnlyDictionary<string, MatArray> Read(string path)
    {
        if (!File.Exists(path)) throw new HyperpixelFlowException($"{path}: annotation file not found");
        try
        {
            return Parse(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException or ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            throw new DatasetFormatException(path, null, $"not a readable MAT-file ({e.Message})");
        }
    }

    public static IReadOnlyDictionary<string, MatArray> Parse(byte[] bytes)
    {
        if (bytes.Length < 128) throw new FormatException("shorter than the 128-byte header");
        if (Encoding.ASCII.GetString(bytes, 0, 6) != "MATLAB") throw new FormatException("no 'MATLAB' header text (only level-5 MAT-files are read)");
        bool bigEndian = bytes[126] == (byte)'M' && bytes[127] == (byte)'I';
        if (!bigEndian && !(bytes[126] == (byte)'I' && bytes[127] == (byte)'M')) throw new FormatException("bad endian indicator");
        var result = new Dictionary<string, MatArray>();
        ReadElements(bytes.AsSpan(128), bigEndian, result);
        return result;
    }

    private static void ReadElements(ReadOnlySpan<byte> data, bool bigEndian, Dictionary<string, MatArray> into)
    {
        int pos = 0;
        while (pos + 8 <= data.Length)
        {
            var (type, size, payload, next) = ReadTag(data, pos, bigEndian);
            if (type == MiCompressed)
            {
                using var input = new MemoryStream(data.Slice(payload, size).ToArray());
                using var zlib = new ZLibStream(input, CompressionMode.Decompress);
                using var output = new MemoryStream();
                zlib.CopyTo(output);
                ReadElements(output.ToArray(), bigEndian, into);
            }
            else if (type == MiMatrix)
            {
                var array = ReadMatrix(data.Slice(payload, size), bigEndian);
                if (array is not null) into[array.Name] = array;
            }
            pos = next;
        }
        if (pos != data.Length && data[pos..].IndexOfAnyExcept((byte)0) >= 0) throw new FormatException("truncated data element");
    }

    /// <summary>Tag at pos: (type, byte count, payload offset, offset of the next element).</summary>
    private static (int Type, int Size, int Payload, int Next) ReadTag(ReadOnlySpan<byte> data, int pos, bool bigEndian)
    {
        uint first = U32(data, pos, bigEndian);
        if (first >> 16 != 0) // small data element: size and type packed in 4 bytes, data in the next 4
            return ((int)(first & 0xffff), (int)(first >> 16), pos + 4, pos + 8);
        int type = (int)first;
        uint size = U32(data, pos + 4, bigEndian);
        if (size > data.Length - pos - 8) throw new FormatException($"element of {size} bytes runs past the end of the data");
        int padded = type == MiCompressed ? (int)size : (int)((size + 7) & ~7u);
        return (type, (int)size, pos + 8, Math.Min(pos + 8 + padded, data.Length));
    }

    private static MatArray? ReadMatrix(ReadOnlySpan<byte> m, bool bigEndian)
    {
        if (m.Length == 0) return null; // empty array
        var (_, _, flagsAt, afterFlags) = ReadTag(m, 0, bigEndian);
        int mxClass = (int)(U32(m, flagsAt, bigEndian) & 0xff);
        var (_, dimsSize, dimsAt, afterDims) = ReadTag(m, afterFlags, bigEndian);
        var dims = new int[dimsSize / 4];
        for (int i = 0; i < dims.Length; i++) dims[i] = (int)U32(m, dimsAt + 4 * i, bigEndian);
        var (_, nameSize, nameAt, afterName) = ReadTag(m, afterDims, bigEndian);
        string name = Encoding.ASCII.GetString(m.Slice(nameAt, nameSize));
        if (mxClass is MxStruct or MxCell or MxChar or MxSparse || mxClass < 6 || mxClass > 15) return null;
        long count = dims.Aggregate(1L, (a, b) => a * b);
        var (realType, realSize, realAt, _) = ReadTag(m, afterName, bigEndian);
        var values = Numbers(m.Slice(realAt, realSize), realType, bigEndian);
        if (values.Length != count) throw new FormatException($"variable '{name}' has {values.Length} values for dims {string.Join("x", dims)}");
        return new MatArray(name, dims, values);
    }

    private static double[] Numbers(ReadOnlySpan<byte> d, int type, bool be)
    {
        int width = type switch
        {
            MiInt8 or MiUInt8 => 1, MiInt16 or MiUInt16 => 2, MiInt32 or MiUInt32 or MiSingle => 4, MiDouble or MiInt64 or MiUInt64 => 8,
            _ => throw new FormatException($"unsupported numeric data type {type}"),
        };
        var v = new double[d.Length / width];
        for (int i = 0; i < v.Length; i++)
        {
            var s = d.Slice(i * width, width);
            v[i] = type switch
            {
                MiInt8 => (sbyte)s[0],
                MiUInt8 => s[0],
                MiInt16 => be ? BinaryPrimitives.ReadInt16BigEndian(s) : BinaryPrimitives.ReadInt16LittleEndian(s),
                MiUInt16 => be ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s),
                MiInt32 => be ? BinaryPrimitives.ReadInt32BigEndian(s) : BinaryPrimitives.ReadInt32LittleEndian(s),
                MiUInt32 => be ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s),
                MiSingle => be ? BinaryPrimitives.ReadSingleBigEndian(s) : BinaryPrimitives.ReadSingleLittleEndian(s),
                MiDouble => be ? BinaryPrimitives.ReadDoubleBigEndian(s) : BinaryPrimitives.ReadDoubleLittleEndian(s),
                MiInt64 => be ? BinaryPrimitives.ReadInt64BigEndian(s) : BinaryPrimitives.ReadInt64LittleEndian(s),
                _ => be ? BinaryPrimitives.ReadUInt64BigEndian(s) : BinaryPrimitives.ReadUInt64LittleEndian(s),
            };
        }
        return v;
    }

    private static uint U32(ReadOnlySpan<byte> d, int at, bool bigEndian)
    {
        if (at < 0 || at + 4 > d.Length) throw new FormatException("truncated tag");
        return bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(d.Slice(at, 4)) : BinaryPrimitives.ReadUInt32LittleEndian(d.Slice(at, 4));
    }
}
