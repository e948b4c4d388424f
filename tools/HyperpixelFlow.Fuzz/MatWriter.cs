using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace HyperpixelFlow.Fuzz;

/// <summary>Writes MATLAB level-5 MAT-files byte by byte from the format specification, for the reader's tests and the fuzzer's seeds.</summary>
public static class MatWriter
{
    private const int MiInt8 = 1, MiUInt8 = 2, MiInt32 = 5, MiUInt32 = 6, MiDouble = 9, MiMatrix = 14, MiCompressed = 15;
    private const int MxDouble = 6, MxUInt8 = 9;

    public sealed record Variable(string Name, int Rows, int Columns, double[] ColumnMajor, bool AsUInt8 = false);

    public static byte[] Write(IEnumerable<Variable> variables, bool compress = false, bool bigEndian = false)
    {
        var file = new List<byte>();
        var text = Encoding.ASCII.GetBytes("MATLAB 5.0 MAT-file, written by HyperpixelFlow tools".PadRight(116));
        file.AddRange(text);
        file.AddRange(new byte[8]);                                     // subsystem data offset
        file.AddRange(U16(0x0100, bigEndian));                          // version
        file.AddRange(bigEndian ? "MI"u8.ToArray() : "IM"u8.ToArray());   // endian indicator as written
        foreach (var v in variables)
        {
            var matrix = Element(MiMatrix, Matrix(v, bigEndian), bigEndian);
            if (!compress) { file.AddRange(matrix); continue; }
            using var packed = new MemoryStream();
            using (var z = new ZLibStream(packed, CompressionLevel.Optimal, leaveOpen: true)) z.Write(matrix);
            var payload = packed.ToArray();
            file.AddRange(U32(MiCompressed, bigEndian));
            file.AddRange(U32(payload.Length, bigEndian));
            file.AddRange(payload);                                      // compressed elements are not padded
        }
        return file.ToArray();
    }

    private static byte[] Matrix(Variable v, bool be)
    {
        var body = new List<byte>();
        body.AddRange(Element(MiUInt32, [.. U32(v.AsUInt8 ? MxUInt8 : MxDouble, be), .. U32(0, be)], be));  // array flags
        body.AddRange(Element(MiInt32, [.. U32(v.Rows, be), .. U32(v.Columns, be)], be));               // dimensions
        body.AddRange(Element(MiInt8, Encoding.ASCII.GetBytes(v.Name), be));                             // name
        if (v.AsUInt8) body.AddRange(Element(MiUInt8, v.ColumnMajor.Select(d => (byte)d).ToArray(), be));
        else body.AddRange(Element(MiDouble, v.ColumnMajor.SelectMany(d => F64(d, be)).ToArray(), be));
        return body.ToArray();
    }

    private static byte[] Element(int type, byte[] data, bool be)
    {
        var e = new List<byte>();
        e.AddRange(U32(type, be));
        e.AddRange(U32(data.Length, be));
        e.AddRange(data);
        while (e.Count % 8 != 0) e.Add(0);
        return e.ToArray();
    }

    private static byte[] U16(int v, bool be) { var b = new byte[2]; if (be) BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)v); else BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); return b; }
    private static byte[] U32(int v, bool be) { var b = new byte[4]; if (be) BinaryPrimitives.WriteInt32BigEndian(b, v); else BinaryPrimitives.WriteInt32LittleEndian(b, v); return b; }
    private static byte[] F64(double v, bool be) { var b = new byte[8]; if (be) BinaryPrimitives.WriteDoubleBigEndian(b, v); else BinaryPrimitives.WriteDoubleLittleEndian(b, v); return b; }
}
