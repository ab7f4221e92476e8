import Foundation
import LMDB
import Testing

@Suite struct LMDBErrorTests {
    @Test(arguments: LMDBError.allLMDBCodes)
    func everyLMDBCode_hasMDBName(error: LMDBError) {
        #expect(error.name.hasPrefix("MDB_"), "code \(error.code) is unnamed")
        #expect(error.description.hasPrefix(error.name + ": "))
        #expect(!error.description.hasPrefix(error.name + ": " + error.name), "the name appears once")
        #expect(error.description.count > error.name.count + 2, "mdb_strerror text follows the name")
    }

    @Test func allLMDBCodes_coversEveryCodeInTheHeaderRange() {
        // MDB_KEYEXIST (-30799) through MDB_BAD_DBI (-30780), the whole range of liblmdb 0.9.24.
        #expect(Set(LMDBError.allLMDBCodes.map(\.code)) == Set(Int32(-30799)...Int32(-30780)))
    }

    @Test(arguments: [
        (LMDBError.keyExists, "MDB_KEYEXIST"),
        (.notFound, "MDB_NOTFOUND"),
        (.pageNotFound, "MDB_PAGE_NOTFOUND"),
        (.corrupted, "MDB_CORRUPTED"),
        (.panic, "MDB_PANIC"),
        (.versionMismatch, "MDB_VERSION_MISMATCH"),
        (.invalid, "MDB_INVALID"),
        (.mapFull, "MDB_MAP_FULL"),
        (.dbsFull, "MDB_DBS_FULL"),
        (.readersFull, "MDB_READERS_FULL"),
        (.tlsFull, "MDB_TLS_FULL"),
        (.txnFull, "MDB_TXN_FULL"),
        (.cursorFull, "MDB_CURSOR_FULL"),
        (.pageFull, "MDB_PAGE_FULL"),
        (.mapResized, "MDB_MAP_RESIZED"),
        (.incompatible, "MDB_INCOMPATIBLE"),
        (.badReaderSlot, "MDB_BAD_RSLOT"),
        (.badTxn, "MDB_BAD_TXN"),
        (.badValSize, "MDB_BAD_VALSIZE"),
        (.badDBI, "MDB_BAD_DBI"),
    ])
    func namedConstant_hasItsCName(error: LMDBError, name: String) {
        #expect(error.name == name)
    }

    @Test(arguments: [
        (ENOSPC, "ENOSPC"), (EACCES, "EACCES"), (EIO, "EIO"), (ENOMEM, "ENOMEM"), (EINVAL, "EINVAL"),
        (ENOENT, "ENOENT"), (EAGAIN, "EAGAIN"), (EBUSY, "EBUSY"), (EROFS, "EROFS"), (EEXIST, "EEXIST"),
        (EBADF, "EBADF"), (EPERM, "EPERM"), (EFBIG, "EFBIG"), (EDQUOT, "EDQUOT"), (ENOTDIR, "ENOTDIR"),
    ])
    func errno_isNamedByErrnoName(code: Int32, name: String) {
        let error = LMDBError.errno(code)
        #expect(error.name == name)
        #expect(error.description == "\(name): \(String(cString: strerror(code)))")
    }

    @Test func unknownCode_isNamedByNumber() {
        #expect(LMDBError.errno(99_999).name == "errno(99999)")
    }

    @Test func equality_isByCode() {
        #expect(LMDBError.errno(ENOSPC) == LMDBError(code: ENOSPC))
        #expect(LMDBError.mapFull != LMDBError.keyExists)
        #expect(LMDBError.environmentClosed == .errno(EBADF))
    }
}
