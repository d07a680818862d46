"""Every message the service says to a person, by a stable code, in English and Simplified Chinese.

A raise site names a code and its parameters, ``raise NotFoundError(say("manifest_not_found",
manifest_id=5))``; ``say`` returns a ``Text``: the English message itself (a ``str``, so logs,
tests and ``str(exc)`` read as before) that also carries its ``code`` and its Chinese ``zh``. The
same goes for the items of an error's ``errors`` list (``{"field": ..., "message": say(...)}``)
and for the unmet conditions of the workflow. web/errors.py writes them out as ``code``,
``error``/``error_zh`` and, per item, ``code``, ``message``/``message_zh``.

Templates are ``str.format`` texts filled from the parameters; in a Chinese template ``{x_zh}``
is parameter ``x`` in Chinese when it is one of the domain's terms (a status, an action, a role,
a discrepancy kind...), else ``x`` as it is. Codes are snake_case and never change once published:
clients (the scan page, handheld scanners) branch on them.
"""

from tally.names import (
    DISCREPANCY_KIND_NAMES,
    MANIFEST_STATUS_NAMES,
    WORKFLOW_ACTION_NAMES,
    chinese,
)

# The domain's words as a Chinese bonded warehouse says them, for ``{x_zh}`` in templates.
TERMS_ZH = {
    **{key: chinese(name) for key, name in MANIFEST_STATUS_NAMES.items()},
    **{key: chinese(name) for key, name in WORKFLOW_ACTION_NAMES.items()},
    **{key: chinese(name) for key, name in DISCREPANCY_KIND_NAMES.items()},
    # Release order (核放单) statuses; "returned" is the list's 退单 above as well.
    "created": "待车单关联", "applied": "已申报", "approved": "已审批", "passed": "已过卡",
    "approve": "审批通过", "return": "退运", "pass_gate": "过卡",
    "refused": "卡口不予放行", "refuse_at_gate": "卡口不予放行",
    # Customs message (outbox) statuses.
    "pending": "待发送", "delivered": "已发送", "failed": "未发送",
    # Roles.
    "operator": "理货员", "supervisor": "主管", "admin": "管理员",
    # Label (unit) statuses.
    "issued": "已发放", "void": "已作废", "counted": "已计数",
    # Inspection: aspects checked per line, pallet dispositions and tasks.
    "nature": "品名", "origin": "原产地", "condition": "状态", "quantity": "数量", "value": "价值",
    "fumigate": "熏蒸", "destroy": "销毁", "pass": "放行",
    # Consignment and release order.
    "consignment": "货物", "release order": "核放单",
    # Where a manifest comes from.
    "CSV": "CSV 文件", "workbook": "Excel 工作簿",
}

CATALOGUE: dict[str, tuple[str, str]] = {
    # --- generic: one per error class, for a raise that names no code ----------------------
    "validation_failed": ("the request is invalid", "请求内容有误"),
    "not_found": ("not found", "未找到"),
    "conflict": ("the request conflicts with the current state", "请求与当前状态冲突"),
    "authentication_required": ("sign in or give a bearer token", "请先登录"),
    "permission_denied": ("your role does not allow this", "您的角色无权执行此操作"),
    "payload_too_large": ("the upload is over the size limit", "上传内容超过大小限制"),
    "too_many_requests": ("too many attempts; try again later", "尝试次数过多，请稍后再试"),
    "invalid_value": ("the value is not valid", "该值无效"),
    "internal_error": ("internal error: the request was not completed",
                       "系统内部错误：请求未完成"),
    # --- HTTP, before any view answers ---------------------------------------------------------
    "route_not_found": ("not found: no page or resource at this address",
                        "未找到：此地址没有页面或资源"),
    "method_not_allowed": ("the method is not allowed for this address",
                           "此地址不允许该请求方法"),
    "bad_request": ("bad request: {detail}", "请求格式错误：{detail}"),
    "http_error": ("the request failed", "请求失败"),
    "request_timeout": ("the request took too long to arrive", "请求发送超时"),
    "database_unavailable": ("the database cannot be reached just now; nothing was recorded, try"
                             " again shortly", "暂时无法连接数据库，本次未记录，请稍后重试"),
    "service_unavailable": ("the service is unavailable; try again shortly",
                            "服务暂时不可用，请稍后再试"),
    "body_not_json": ("the body must be JSON (Content-Type: application/json)",
                      "请求正文必须是 JSON（Content-Type: application/json）"),
    "body_too_large": ("a JSON body holds at most {limit} bytes",
                       "JSON 请求正文最多 {limit} 字节"),
    "body_invalid_json": ("the body is not valid JSON", "请求正文不是有效的 JSON"),
    "body_too_deep": ("the JSON body nests deeper than {depth} levels",
                      "JSON 请求正文嵌套超过 {depth} 层"),
    "body_not_object": ("the body must be a JSON object", "请求正文必须是 JSON 对象"),
    "parameter_repeated": ("{name} is given {count} times; give it once",
                           "参数 {name} 出现了 {count} 次，只能给一次"),
    "repeated": ("repeated", "重复给出"),
    "parameter_not_number": ("{name} must be a whole number from 0 to {maximum}",
                             "{name} 必须是 0 到 {maximum} 之间的整数"),
    "parameter_not_choice": ("{name} must be one of {choices}", "{name} 必须是 {choices} 之一"),
    "got_value": ("got {value}", "收到的是 {value}"),
    # --- sign-in and permissions ---------------------------------------------------------------
    "token_required": ("a bearer token is required (Authorization: Bearer <token>)",
                       "需要令牌（Authorization: Bearer <token>）"),
    "token_unknown": ("unknown or revoked token", "令牌无效或已吊销"),
    "sign_in_failed": ("unknown user or wrong password", "用户名不存在或密码错误"),
    "sign_in_throttled": ("too many failed sign-ins; try again in {wait}",
                          "登录失败次数过多，请在 {wait_zh} 后再试"),
    "session_ended": ("the session has ended (signed out or expired); sign in again",
                      "会话已结束（已退出或已过期），请重新登录"),
    "csrf_failed": ("missing or wrong X-CSRF-Token header for a signed-in session",
                    "已登录会话缺少或带有错误的 X-CSRF-Token 请求头，请刷新页面后重试"),
    "role_required": ("this needs the {role} role; {user} is {user_role}",
                      "此操作需要{role_zh}角色；{user} 是{user_role_zh}"),
    "supervisor_to_correct": ("correcting a discrepancy needs the supervisor role",
                              "更正差异记录需要主管角色"),
    "user_name_required": ("user name is required", "必须填写用户名"),
    "required": ("required", "必填"),
    "role_unknown": ("role must be one of {roles}", "角色必须是 {roles} 之一"),
    "role_unknown_item": ("unknown role {role!r}", "未知角色 {role!r}"),
    "password_too_short": ("a password has at least 8 characters", "密码至少 8 个字符"),
    "at_least_8": ("at least 8 characters", "至少 8 个字符"),
    "user_unknown": ("no user {name!r}", "没有用户 {name!r}"),
    "unknown": ("unknown", "未知"),
    # --- field readers (tally/fields.py) -------------------------------------------------------
    "text_required": ("text of 1 to {max_length} characters required",
                      "必须填写 1 到 {max_length} 个字符的文字"),
    "text_controls": ("control characters (line breaks, tabs, NUL) are not allowed",
                      "不允许控制字符（换行、制表符、NUL）"),
    "text_too_long": ("at most {max_length} characters, got {length}",
                      "最多 {max_length} 个字符，实际 {length} 个"),
    "text_form": ("not in the expected form", "格式不符合要求"),
    "integer_required": ("a whole number of at least {minimum} is required",
                         "必须填写不小于 {minimum} 的整数"),
    "integer_range_required": ("a whole number from {minimum} to {maximum} is required",
                               "必须填写 {minimum} 到 {maximum} 之间的整数"),
    "integer_invalid": ("a whole number of at least {minimum}, got {value}",
                        "应为不小于 {minimum} 的整数，收到的是 {value}"),
    "integer_range_invalid": ("a whole number from {minimum} to {maximum}, got {value}",
                              "应为 {minimum} 到 {maximum} 之间的整数，收到的是 {value}"),
    "choice_required": ("one of {choices} is required", "必须选择 {choices} 之一"),
    "choice_invalid": ("one of {choices}, got {value}", "应为 {choices} 之一，收到的是 {value}"),
    "number_required": ("a number is required", "必须填写数字"),
    "number_invalid": ("must be a number", "必须是数字"),
    "number_form": ("a plain number of zero or more with at most {places} decimal places,"
                    " got {value!r}",
                    "应为不小于零、最多 {places} 位小数的普通数字，收到的是 {value!r}"),
    "number_not_positive": ("must be above zero", "必须大于零"),
    "number_too_large": ("at most {maximum}, got {value}", "最大 {maximum}，收到的是 {value}"),
    # --- manifests (舱单) ----------------------------------------------------------------------
    "manifest_not_found": ("no manifest with id {manifest_id}", "没有编号为 {manifest_id} 的舱单"),
    "manifest_exists": ("manifest {manifest_no} already exists", "舱单 {manifest_no} 已存在"),
    "already_imported": ("already imported", "已导入"),
    "manifest_empty": ("the manifest is empty", "舱单为空"),
    "no_header_no_lines": ("no header row and no lines", "没有表头行，也没有明细行"),
    "manifest_no_lines": ("the manifest has no lines", "舱单没有明细行"),
    "header_only": ("header only", "只有表头"),
    "manifest_unreadable_csv": ("the CSV cannot be read: {detail}", "无法读取 CSV 文件：{detail}"),
    "manifest_not_text": ("the manifest is not text (expected UTF-8 or GB18030 CSV)",
                          "舱单不是文本文件（应为 UTF-8 或 GB18030 编码的 CSV）"),
    "manifest_header_wrong": ("the {kind} header is wrong", "{kind_zh}的表头有误"),
    "column_unknown": ("unknown column", "未知的列"),
    "column_missing": ("required column is missing", "缺少必需的列"),
    "column_repeated": ("column appears more than once: {names}", "列重复出现：{names}"),
    "manifest_too_many_rows": ("the {kind} has more than {rows} rows; a manifest has at most"
                               " {lines} lines",
                               "{kind_zh}超过 {rows} 行；一份舱单最多 {lines} 行明细"),
    "too_many_rows": ("too many rows", "行数过多"),
    "row_width": ("has {got} fields, the header has {want}",
                  "本行有 {got} 个字段，表头有 {want} 个"),
    "manifest_malformed_rows": ("the {kind} has malformed rows", "{kind_zh}中有格式错误的行"),
    "manifest_no_differs": ("all rows must share one manifest_no",
                            "所有行的舱单号（manifest_no）必须相同"),
    "differs_from": ("{value!r} differs from {first!r}", "{value!r} 与 {first!r} 不同"),
    "manifest_not_object": ("the manifest must be a JSON object with manifest_no and lines",
                            "舱单必须是含 manifest_no 和 lines 的 JSON 对象"),
    "manifest_invalid": ("the manifest is invalid", "舱单内容有误"),
    "manifest_too_many_lines": ("a manifest has at most {limit} lines",
                                "一份舱单最多 {limit} 行明细"),
    "manifest_errors": ("the manifest has {count} error(s); nothing was stored",
                        "舱单有 {count} 处错误，未保存任何内容"),
    "line_not_object": ("a line must be an object", "明细行必须是对象"),
    "lines_required": ("a list of lines is required", "必须给出明细行列表"),
    "line_repeated": ("line {line_no} already appears in row {row}",
                      "第 {line_no} 项已在第 {row} 行出现"),
    "gtin_check_digit": ("GTIN check digit is wrong: {gtin}", "GTIN 校验位错误：{gtin}"),
    "amounts_unsound": ("{count} stored amount(s) of this manifest, kept by an earlier version,"
                        " are not plain numbers customs can take; correct them before confirming",
                        "此舱单有 {count} 个旧版本保存的金额不是海关可接受的普通数字，"
                        "请先更正再确认"),
    "line_not_found": ("the manifest has no line {line_no}", "舱单没有第 {line_no} 项"),
    "no_line": ("no line {line_no}", "没有第 {line_no} 项"),
    "manifest_file_required": ("the multipart form needs a 'file' field with the CSV or .xlsx",
                               "表单需要一个 'file' 字段，内容为 CSV 或 .xlsx 文件"),
    "pdf_too_many_lines": ("the PDF holds at most {limit} lines and this manifest has {count};"
                           " use ?format=xlsx or ?format=csv",
                           "PDF 最多 {limit} 行，此舱单有 {count} 行；请用 ?format=xlsx 或"
                           " ?format=csv"),
    "too_many_lines_for_pdf": ("too many lines for a PDF", "行数过多，无法生成 PDF"),
    "format_unknown": ("format must be json, csv, xlsx or pdf",
                       "格式必须是 json、csv、xlsx 或 pdf"),
    "format_unknown_item": ("unknown format {format!r}", "未知格式 {format!r}"),
    # --- workbooks (.xlsx manifests) -----------------------------------------------------------
    "workbook_header_wrong": ("the workbook header is wrong", "工作簿的表头有误"),
    "sheet_empty": ("sheet {sheet!r} has no header row and no lines",
                    "工作表 {sheet!r} 没有表头行，也没有明细行"),
    "workbook_cells": ("the workbook has {count} cell(s) without a usable value; nothing was"
                       " stored", "工作簿有 {count} 个单元格没有可用的值，未保存任何内容"),
    "workbook_old_or_locked": ("the file is not an .xlsx workbook: an old .xls or a"
                               " password-protected workbook; save it in Excel as an .xlsx"
                               " workbook without a password",
                               "文件不是 .xlsx 工作簿：是旧的 .xls 或有密码保护的工作簿；"
                               "请在 Excel 中另存为无密码的 .xlsx 工作簿"),
    "workbook_not_zip": ("the file is not an .xlsx workbook (an .xlsx file is a zip archive;"
                         " this is not one)",
                         "文件不是 .xlsx 工作簿（.xlsx 文件是 zip 压缩包，此文件不是）"),
    "workbook_damaged": ("the file is not an .xlsx workbook: {detail}",
                         "文件不是可用的 .xlsx 工作簿：{detail}"),
    "workbook_too_large": ("the file is not an .xlsx workbook: it unpacks to more than {mb} MB",
                           "文件不是可用的 .xlsx 工作簿：解压后超过 {mb} MB"),
    "sheet_unknown": ("the workbook has no sheet named {sheet!r}",
                      "工作簿中没有名为 {sheet!r} 的工作表"),
    "sheet_unknown_item": ("no sheet {sheet!r}; the workbook has {names}",
                           "没有工作表 {sheet!r}；工作簿中有 {names}"),
    "sheet_too_many_rows": ("the sheet has more than {limit} rows; a manifest has at most {limit}"
                            " lines", "工作表超过 {limit} 行；一份舱单最多 {limit} 行明细"),
    "row_past_limit": ("row {row} is past the limit", "第 {row} 行超出限制"),
    "sheet_too_many_columns": ("the sheet has more than {limit} columns",
                               "工作表超过 {limit} 列"),
    "column_past_limit": ("column {column} is past the limit", "第 {column} 列超出限制"),
    "sheet_too_many_cells": ("the sheet has more than {limit} cells",
                             "工作表超过 {limit} 个单元格"),
    "sheet_spans_too_many": ("the sheet spans more than {limit} cells",
                             "工作表范围超过 {limit} 个单元格"),
    "workbook_unreadable": ("the workbook cannot be read{detail}", "无法读取工作簿{detail}"),
    # --- the tally (理货): open, closed -------------------------------------------------------
    "tally_not_open": ("the tally is not open yet ({status}): {why}; {refused}",
                       "理货尚未开始（{status_zh}）：{why_zh}；{refused_zh}"),
    "tally_closed": ("the tally is closed ({status}): it was confirmed and its counts are final;"
                     " {refused}",
                     "理货已关闭（{status_zh}）：理货已确认，数量为最终数；{refused_zh}"),
    "action_not_possible": ("cannot {action_words}: the {subject} is {status}",
                            "无法执行“{action_zh}”：{subject_zh}当前为“{status_zh}”"),
    "action_not_from": ("{action} is not possible from {status}",
                        "“{status_zh}”状态下不能执行“{action_zh}”"),
    "conditions_unmet": ("cannot {action_words}: {count} condition(s) unmet",
                         "无法执行“{action_zh}”：有 {count} 项条件未满足"),
    "release_order_not_found": ("no release order with id {release_order_id}",
                                "没有编号为 {release_order_id} 的核放单"),
    "release_order_unknown": ("no release order {number}", "没有核放单 {number}"),
    # Unmet conditions of the workflow (tally/conditions.py, tally/workflow.py).
    "no_inspection": ("no inspection is recorded", "尚未记录查验"),
    "check_failed": ("line {line_no}: {aspect} check failed ({note})",
                     "第 {line_no} 项：{aspect_zh}查验不合格（{note}）"),
    "task_open": ("pallet {pallet_no}: {kind} not recorded done",
                  "托盘 {pallet_no}：{kind_zh}尚未登记完成"),
    "escort_not_signed": ("the escort has not signed the record sheet",
                          "监管人员尚未在记录单上签字"),
    "tally_status_abnormal": ("the manifest's tally status is {status}, not 正常理货 (normal"
                              " tally){reason}",
                              "舱单理货状态为“{status}”，不是正常理货{reason}"),
    "counting_not_begun": ("{text}", "{text}"),
    "difference_unexplained": ("line {line_no}: difference {difference:+d} is not explained by"
                               " recorded discrepancies",
                               "第 {line_no} 项：差异 {difference:+d} 未由已登记的差异记录解释"),
    "no_approved_release_order": ("no approved release order covers this consignment",
                                  "没有已审批的核放单覆盖此批货物"),
    "no_vehicle": ("no truck is associated with its release order",
                   "核放单尚未关联车辆（车单关联）"),
    "no_returned_release_order": ("customs has returned none of its release orders",
                                  "海关未退回其核放单"),
    "vehicle_still_associated": ("another release order still carries it with a truck",
                                 "仍有其他已关联车辆的核放单"),
    "no_confirmed_tally": ("the consignment has no confirmed tally: nothing can have entered",
                           "此批货物没有已确认的理货：不可能已入区"),
    "units_not_through": ("line {line_no}: {qty} unit(s) not yet through the gate",
                          "第 {line_no} 项：还有 {qty} 件未过卡口"),
    # --- labels (标签) -------------------------------------------------------------------------
    "label_allowance_exceeded": ("line {line_no} declares {declared} and has {issued} label(s)"
                                 " (void ones not counted); {left} more can be issued, up to"
                                 " {allowance} with the surplus allowance. A supervisor can issue"
                                 " more.",
                                 "第 {line_no} 项申报 {declared} 件，已发放 {issued} 张标签"
                                 "（不含作废）；还可发放 {left} 张，含余量共 {allowance} 张。"
                                 "主管可以多发。"),
    "labels_too_many": ("more than {limit} labels match; a list or print job holds at most"
                        " {limit}: choose a line (line_no) or a box (box_no)",
                        "符合条件的标签超过 {limit} 张；一次列表或打印最多 {limit} 张："
                        "请选择一项（line_no）或一箱（box_no）"),
    "choose_line_or_box": ("choose a line or a box", "请选择一项或一箱"),
    "unit_not_found": ("no unit with code {code}", "没有条码为 {code} 的货物标签"),
    "reprint_reason_required": ("a reprint needs a reason", "补打标签必须填写原因"),
    "void_reason_required": ("voiding a label needs a reason", "作废标签必须填写原因"),
    "reason_required": ("required, at most 200 characters", "必填，最多 200 个字符"),
    "label_not_reprintable": ("unit {code} is {status}; its label cannot be reprinted",
                              "货物 {code} {status_zh}，不能补打标签"),
    "label_already_void": ("unit {code} is already void", "货物 {code} 的标签已作废"),
    "label_already_counted": ("unit {code} is already counted; record a discrepancy instead",
                              "货物 {code} 已计数，不能作废标签；请登记差异"),
    "label_body_invalid": ("the body must be an object with line_no and count",
                           "请求正文必须是含 line_no 和 count 的对象"),
    "print_body_invalid": ("the body must be an object (line_no, box_no, codes, dpi, size)",
                           "请求正文必须是对象（line_no、box_no、codes、dpi、size）"),
    "label_size_invalid": ("{detail}", "标签尺寸或参数无效：{detail}"),
    "label_copy_missing": ("copy {copy} of {code} was never recorded; POST a reprint first",
                           "{code} 的第 {copy} 份从未记录，请先补打"),
    "sheet_invalid": ("sheet must be a4 or omitted (one label per page)",
                      "sheet 必须是 a4，或不填（每页一张标签）"),
    "labels_none_issued": ("no issued labels match; issue labels first",
                           "没有符合条件的已发放标签，请先发放标签"),
    "print_invalid": ("cannot print: the request is invalid", "无法打印：请求内容有误"),
    "printer_not_configured": ("no label printer is configured: set TALLY_PRINTER=host:port, or"
                               " download the ZPL",
                               "未配置标签打印机：请设置 TALLY_PRINTER=host:port，或下载 ZPL 文件"),
    "not_configured": ("not configured", "未配置"),
    "printer_malformed": ("the printer setting is malformed: {detail}",
                          "打印机设置格式错误：{detail}"),
    "printer_unreachable": ("{detail}", "无法连接标签打印机：{detail}"),
    "codes_not_issued": ("some codes are not issued labels of this consignment (or not in the"
                         " filter)", "部分条码不是此批货物已发放的标签（或不在筛选范围内）"),
    "code_not_found": ("{code}: not found", "{code}：未找到"),
    # --- scans (扫描) --------------------------------------------------------------------------
    "scans_not_list": ("scans must be a non-empty list", "scans 必须是非空列表"),
    "scans_too_many": ("a batch holds at most {limit} scans, got {count}",
                       "一批最多 {limit} 次扫描，收到 {count} 次"),
    "scan_id_reused": ("client_scan_id {client_scan_id} was already used for another scan",
                       "扫描编号 client_scan_id {client_scan_id} 已用于另一次扫描"),
    "already_used": ("already used", "已被使用"),
    "frame_not_multipart": ("a camera frame is sent as multipart/form-data",
                            "相机画面须以 multipart/form-data 发送"),
    "no_barcode_found": ("no unit label barcode was found in the image",
                         "图像中未找到货物标签条码"),
    "image_too_large": ("the image is over {mb} MB", "图像超过 {mb} MB"),
    "image_empty": ("the image file is empty", "图像文件为空"),
    "empty": ("empty", "为空"),
    "image_required": ("a multipart 'image' file is required", "需要 multipart 的 'image' 文件"),
    "missing": ("missing", "缺少"),
    "image_unusable": ("{detail}", "图像无法使用：{detail}"),
    "image_over_limit": ("{detail}", "图像过大：{detail}"),
    # --- inspection (查验) ---------------------------------------------------------------------
    "inspection_not_object": ("an inspection must be a JSON object", "查验记录必须是 JSON 对象"),
    "inspection_errors": ("the inspection has {count} error(s); nothing was stored",
                          "查验记录有 {count} 处错误，未保存任何内容"),
    "inspection_over": ("the consignment is {status}; inspection is over",
                        "货物已是“{status_zh}”状态，查验已结束"),
    "inspection_not_found": ("manifest {manifest_no} has no inspection {inspection_id}",
                             "舱单 {manifest_no} 没有第 {inspection_id} 次查验"),
    "task_note_invalid": ("the task note is invalid", "任务备注有误"),
    "task_not_found": ("inspection {inspection_id} has no task {task_id}",
                       "第 {inspection_id} 次查验没有任务 {task_id}"),
    "task_already_done": ("task {task_id} was already recorded done at {done_at}",
                          "任务 {task_id} 已于 {done_at} 登记完成"),
    "escort_name_required": ("the escort's name is required", "必须填写监管人员姓名"),
    "already_signed": ("the record sheet was already signed by {name}", "记录单已由 {name} 签字"),
    "inspection_replaced": ("a later inspection replaces this one; sign that record sheet",
                            "此次查验已被后来的查验取代，请在新的记录单上签字"),
    "signature_required": ("the escort's signature is required", "必须有监管人员签名"),
    "signature_data_url": ("a PNG data URL", "应为 PNG 图像（data URL）"),
    "signature_image_too_large": ("the signature image is too large", "签名图像过大"),
    "at_most_512kb": ("at most 512 kB", "最大 512 kB"),
    "signature_not_base64": ("the signature is not base64", "签名不是 base64 编码"),
    "not_base64": ("not base64", "不是 base64 编码"),
    "signature_unusable": ("the signature cannot be used: {detail}", "签名无法使用：{why_zh}"),
    # Why a signature image is unusable (tally.signatures.SignatureError's code).
    "signature_too_large": ("{detail}", "签名图像过大"),
    "signature_not_png": ("{detail}", "签名不是 PNG 图像"),
    "signature_too_many_pixels": ("{detail}", "签名图像像素过多"),
    "signature_corrupt": ("{detail}", "签名 PNG 图像已损坏或不完整"),
    "signature_blank": ("{detail}", "签名为空白，请签字"),
    "signature_not_recorded": ("the escort has not signed this record sheet",
                               "监管人员尚未在此记录单上签字"),
    "pallet_not_object": ("a pallet must be an object", "托盘记录必须是对象"),
    "true_or_false": ("true or false", "应为 true 或 false"),
    "a_list": ("a list", "应为列表"),
    "pallet_twice": ("pallet {pallet_no} appears twice", "托盘 {pallet_no} 出现两次"),
    "wood_without_mark": ("wood packaging without an IPPC mark", "木质包装没有 IPPC 标识"),
    "wood_must_be_treated": ("wood without a valid IPPC mark must be fumigated, destroyed or"
                             " returned: {problems}",
                             "没有有效 IPPC 标识的木质包装必须熏蒸、销毁或退运：{problems}"),
    "pests_found": ("pests were found: the pallet cannot pass as it is",
                    "发现有害生物：该托盘不能直接放行"),
    "checks_not_list": ("a list of per-line checks is required", "必须给出逐项查验列表"),
    "check_not_object": ("a check must be an object", "查验记录必须是对象"),
    "no_manifest_line": ("no manifest line {line_no}", "舱单没有第 {line_no} 项"),
    "line_twice": ("line {line_no} twice", "第 {line_no} 项出现两次"),
    "check_result_required": ('{{"result": "pass" or "fail", "note": ...}} required',
                              '必须给出 {{"result": "pass" 或 "fail", "note": ...}}'),
    "failed_check_note": ("a failed check needs a note", "不合格的查验必须填写说明"),
    "lines_unchecked": ("every manifest line must be checked; missing line(s) {lines}",
                        "舱单每一项都必须查验；缺少第 {lines} 项"),
    "escort_object": ('{{"name", "signature"}}', '应为 {{"name", "signature"}}'),
    "ippc_mark_problem": ("{detail}", "IPPC 标识有误：{detail}"),
    # --- discrepancies (差异) ------------------------------------------------------------------
    "discrepancy_not_object": ("a discrepancy must be a JSON object", "差异记录必须是 JSON 对象"),
    "discrepancy_action_invalid": ("action must be record, replace or reverse",
                                   "action 必须是 record、replace 或 reverse"),
    "correction_pairing": ("a correction names the record it corrects and the action",
                           "更正必须同时给出所更正的记录（corrects）和操作（action）"),
    "corrects_and_action": ("corrects and action go together", "corrects 与 action 必须同时给出"),
    "discrepancy_not_found": ("manifest {manifest_no} has no discrepancy {record_id}",
                              "舱单 {manifest_no} 没有差异记录 {record_id}"),
    "discrepancy_not_in_force": ("discrepancy {record_id} was already corrected or is a reversal",
                                 "差异记录 {record_id} 已被更正，或本身是撤销记录"),
    "not_in_force": ("not in force", "已失效"),
    "discrepancy_invalid": ("the discrepancy is invalid; nothing was recorded",
                            "差异记录有误，未记录任何内容"),
    "corrects_not_id": ("corrects must be a discrepancy id", "corrects 必须是差异记录编号"),
    "line_no_required_unless_wrong_item": ("required (only wrong_item may have none)",
                                           "必填（只有错货 wrong_item 可以不填）"),
    "discrepancy_qty_over": ("a {kind} of {qty} is more than line {line_no} declares"
                             " ({declared})",
                             "{kind_zh} {qty} 件超过第 {line_no} 项申报数（{declared}）"),
    # --- confirmation, declaration (核注清单), write-off (核销) --------------------------------
    "no_inventory_list": ("manifest {manifest_no} has no inventory list yet: confirm the tally",
                          "舱单 {manifest_no} 还没有核注清单：请先确认理货"),
    "correction_changes_required": ("a correction needs a non-empty list of changes",
                                    "更正必须给出非空的修改列表"),
    "changes_form": ('[{{"gdsSeqno": n, field: value}}]', '应为 [{{"gdsSeqno": n, 字段: 值}}]'),
    "note_too_long": ("the note is text of at most 500 characters", "备注最多 500 个字符"),
    "at_most_500": ("at most 500 characters", "最多 500 个字符"),
    "list_change_invalid": ("{detail}", "核注清单修改有误：{detail}"),
    "write_off_numbers_required": ("the write-off needs the transfer order and white card"
                                   " numbers", "核销需要调拨单号和白卡号"),
    "write_off_not_possible": ("cannot write off: the consignment is {status}",
                               "无法核销：货物当前为“{status_zh}”"),
    "inspection_must_pass": ("the inspection must pass first", "必须先通过查验"),
    "customs_refused_write_off": ("customs refused the write-off: {reason}",
                                  "海关拒绝核销：{reason}"),
    "customs_reason": ("{reason}", "{reason}"),
    "customs_not_configured": ("no customs system is configured (TALLY_CUSTOMS_URL)",
                               "未配置海关系统（TALLY_CUSTOMS_URL）"),
    "customs_error": ("the customs system answered with an error: {detail}",
                      "海关系统返回错误：{detail}"),
    "customs_unavailable": ("the customs system answered with an error: {detail}",
                            "海关系统暂时无法访问：{detail}"),
    # --- release orders (核放单), vehicles and the gate (卡口) ---------------------------------
    "release_order_not_object": ("a release order must be a JSON object", "核放单必须是 JSON 对象"),
    "release_order_invalid": ("the release order is invalid; nothing was stored",
                              "核放单内容有误，未保存任何内容"),
    "release_order_problems": ("cannot create the release order: {count} problem(s)",
                               "无法创建核放单：有 {count} 个问题"),
    "vehicle_invalid": ("the vehicle association is invalid; nothing was stored",
                        "车单关联内容有误，未保存任何内容"),
    "release_order_weights_missing": (
        "the release order cannot be declared: line(s) {lines} have no gross or net weight"
        " (SAS121 requires both, > 0); add the weights to the manifest",
        "核放单无法申报：第 {lines} 行缺少毛重或净重（SAS121 必填，须大于 0），请在舱单中补充重量"),
    "release_line_weight_missing": ("line {line_no} has no gross or net weight",
                                    "第 {line_no} 行缺少毛重或净重"),
    "truck_already_bound": ("truck {plate} is already bound to release order {number}, which has"
                            " not passed the gate",
                            "车辆 {plate} 已关联核放单 {number}，该核放单尚未过卡"),
    "bound_to": ("bound to {number}", "已关联 {number}"),
    "gate_pass_not_object": ("a gate pass must be a JSON object", "过卡请求必须是 JSON 对象"),
    "gate_invalid": ("the gate request is invalid", "过卡请求内容有误"),
    "plate_or_card": ("give the plate or the IC card", "请填写车牌号或 IC 卡号"),
    "gate_refused": ("the gate refuses: {reasons}", "卡口拒绝放行：{reasons_zh}"),
    "gate_no_order": ("no release order is associated with this truck (vehicle-order association"
                      " 车单关联 first)", "此车辆没有关联的核放单（请先车单关联）"),
    "gate_order_used": ("release order {number} was already used at the gate",
                        "核放单 {number} 已过卡使用"),
    "gate_order_not_bound": ("release order {number} is {status}, not approved and associated",
                             "核放单 {number} 当前为“{status_zh}”，未审批或未关联车辆"),
    "gate_weight_error": ("weight error {error} kg (total {total} kg, weighbridge {reading} kg)"
                          " is over the tolerance of {tolerance} kg",
                          "重量误差 {error} kg（总重 {total} kg，地磅 {reading} kg）"
                          "超过允许误差 {tolerance} kg"),
    # Scans, continued (tally/scans.py).
    "not_an_object": ("not an object", "不是对象"),
    "scan_not_object": ("a scan must be an object", "扫描记录必须是对象"),
    "scan_code_form": ("the barcode's text: 1 to 128 printable ASCII characters",
                       "条码内容应为 1 到 128 个可打印 ASCII 字符"),
    "scan_invalid": ("the scan is invalid", "扫描内容有误"),
    "carton_form": ("the carton's GS1 barcode as scanned", "应为扫描到的外箱 GS1 条码"),
    "client_scan_id_form": ("1 to 64 letters, digits or ._:- (e.g. a UUID) required",
                            "必须是 1 到 64 个字母、数字或 ._:-（例如 UUID）"),
    "repeated_in_batch": ("repeated within the batch", "在同一批中重复"),
    "scan_batch_invalid": ("{count} scan(s) in the batch are invalid; none was recorded",
                           "本批有 {count} 次扫描有误，全部未记录"),
    "scans_refused": ("scans are not accepted", "不接受扫描"),
    "labels_refused": ("no labels can be issued for manifest {manifest_no}",
                       "舱单 {manifest_no} 不能发放标签"),
    "void_refused": ("unit {code} cannot be voided", "货物 {code} 的标签不能作废"),
    "discrepancies_refused": ("discrepancies are frozen", "差异记录已冻结"),
    "waits_inspection": ("inspection (查验) has not passed yet, and the write-off (核销) comes"
                         " after it", "查验尚未通过，之后还需核销"),
    "waits_write_off": ("the write-off (核销) is not done yet", "核销尚未完成"),
    "seconds": ("{count} s", "{count} 秒"),
    "minute": ("{count} minute", "{count} 分钟"),
    "minutes": ("{count} minutes", "{count} 分钟"),
    # Manifests, continued: fields and the forms of codes.
    "field_unknown": ("unknown field", "未知字段"),
    "manifest_no_form": ("letters, digits and . _ / - only, starting with a letter or digit",
                    "只能包含字母、数字和 . _ / -，并以字母或数字开头"),
    "gtin_form": ("a GTIN has 8, 12, 13 or 14 digits", "GTIN 应为 8、12、13 或 14 位数字"),
    "hs_code_form": ("expected 6, 8 or 10 digits", "应为 6、8 或 10 位数字（HS 编码）"),
    "country_form": ("expected an ISO country code or 3-digit code",
                     "应为 ISO 国家代码或 3 位海关国别代码"),
    "currency_form": ("expected a 3-letter or 3-digit currency code",
                      "应为 3 位字母或 3 位数字的币制代码"),
    "formula_without_value": ("a formula without a saved value: open and save the workbook in"
                              " Excel", "公式没有保存的值：请在 Excel 中打开并保存工作簿"),
    "excel_error_value": ("an Excel error value (such as #N/A or #DIV/0!)",
                          "Excel 错误值（如 #N/A 或 #DIV/0!）"),
    "labels_invalid": ("cannot issue labels", "无法发放标签"),
    "allowance_left": ("at most {left} on line {line_no}", "第 {line_no} 项最多还可发放 {left} 张"),
    # Release orders, continued.
    "bind_type_form": ("1 / one_truck_many_tickets, 2 / one_truck_one_ticket or 3 /"
                       " one_ticket_many_trucks",
                       "应为 1 / one_truck_many_tickets（一车多票）、2 / one_truck_one_ticket"
                       "（一车一票）或 3 / one_ticket_many_trucks（一票多车）"),
    "manifest_ids_required": ("a non-empty list of manifest ids", "必须给出非空的舱单编号列表"),
    "manifest_twice": ("a manifest appears twice", "同一舱单出现两次"),
    "lines_or_all": ("a non-empty list, or omit for all", "应为非空列表，或不填表示全部"),
    "release_line_form": ('{{"manifest_id", "line_no", "qty" >= 1}} whole numbers',
                          '应为整数 {{"manifest_id", "line_no", "qty" >= 1}}'),
    "one_truck_one_ticket": ("one truck, one ticket: one manifest", "一车一票：只能有一份舱单"),
    "one_ticket_many_trucks": ("one ticket, many trucks: one manifest per release order"
                               " (many-to-many is not allowed)",
                               "一票多车：每张核放单只能有一份舱单（不允许多对多）"),
    "only_split_bind_type": ("only one ticket, many trucks splits quantities; the other bind"
                             " types carry the whole remaining quantity",
                             "只有一票多车可以拆分数量；其他绑定类型运走全部剩余数量"),
    "list_not_approved": ("manifest {manifest_no} is {status}: its inventory list is not"
                          " approved",
                          "舱单 {manifest_no} 当前为“{status_zh}”：其核注清单未审批通过"),
    "already_travels": ("manifest {manifest_no} already travels on a release order of bind type"
                        " {bind_types}; only further trucks of one ticket, many trucks may"
                        " follow", "舱单 {manifest_no} 已在绑定类型 {bind_types} 的核放单上；"
                        "之后只能继续一票多车"),
    "manifest_not_in_order": ("manifest {manifest_no} is not in this release order's manifests",
                              "舱单 {manifest_no} 不在此核放单的舱单中"),
    "manifest_has_no_line": ("manifest {manifest_no} has no line {line_no}",
                             "舱单 {manifest_no} 没有第 {line_no} 项"),
    "qty_exceeds_remaining": ("line {line_no}: {qty} exceeds the remaining declarable quantity"
                              " {remaining}",
                              "第 {line_no} 项：{qty} 超过剩余可申报数量 {remaining}"),
    "nothing_left": ("manifest {manifest_no} has nothing left to release",
                     "舱单 {manifest_no} 已没有可核放的货物"),
    "text_at_most": ("text of at most {max_length} characters", "最多 {max_length} 个字符的文字"),
    "required_with_container": ("required with a container", "有集装箱时必填"),
    # The web layer, continued.
    "image_scan_invalid": ("the image scan is invalid", "图像扫描请求有误"),
    "no_unit_code": ("no unit code found", "未找到货物条码"),
    "no_unit_code_seen": ("no unit code found; other barcodes seen: {seen}",
                          "未找到货物条码；看到的其他条码：{seen}"),
    "codes_form": ("a non-empty list of unit codes", "应为非空的货物条码列表"),
    "copy_form": ("a copy number (1 or more) with exactly one code",
                  "份数（1 或以上）只能配一个条码"),
    "dpi_form": ("203 or 300 (the printer's resolution)", "应为 203 或 300（打印机分辨率）"),
    "not_reachable": ("not reachable", "无法连接"),
    # Codes scanned on the dock (tally/codes.py, tally/gs1.py).
    "code_required": ("which code?", "请提供条码"),
    "code_form": ("the barcode's text as scanned", "应为扫描到的条码内容"),
    "box_code_unknown": ("no box has the label {code}", "没有箱标签为 {code} 的箱子"),
    "unit_code_unknown": ("no unit has the label {code}", "没有标签为 {code} 的单件"),
    "carton_unreadable": ("the carton barcode cannot be read: {reason}",
                          "无法读取外箱条码：{reason_zh}"),
    "gs1_not_element_string": ("not a GS1 element string ({detail})",
                               "不是 GS1 元素串（{detail}）"),
    "gs1_no_gtin": ("the GS1 barcode carries no valid GTIN (AI 01)",
                    "GS1 条码中没有有效的商品条码 GTIN（AI 01）"),
    "gs1_bad_expiry": ("the expiry date (AI 17) is not a valid date",
                       "有效期（AI 17）不是有效日期"),
    # --- company settings and the account book (tally/company.py, tally/account_book.py) ----
    "setting_unknown": ("unknown setting {key}; the settings are: {keys}",
                        "没有设置项 {key}；设置项有：{keys}"),
    "setting_credit_code_form": (
        "a unified social credit code is 18 characters of 0-9 and A-Y without I, O, S, V",
        "统一社会信用代码为 18 位，由数字和除 I、O、S、V、Z 外的大写字母组成"),
    "setting_credit_code_check": (
        "the check character (the 18th) should be {check}, not {got}: a character is mistyped",
        "校验码（第 18 位）应为 {check}，而不是 {got}：有字符输错"),
    "setting_etps_code_form": ("a customs registration code is 10 letters or digits",
                               "海关编码为 10 位字母或数字"),
    "setting_customs_code_form": ("a customs code is 4 digits (关区代码, e.g. 3111)",
                                  "关区代码为 4 位数字（如 3111）"),
    "setting_putrec_no_customs": (
        "account book number {putrec_no} belongs to customs {area} (its characters 2-5), not to"
        " the customs code {customs_code}: set the two together",
        "电子账册号 {putrec_no} 第 2-5 位为关区代码 {area}，与主管海关 {customs_code} 不符："
        "请一并设置"),
    "setting_putrec_no_form": (
        "an account book number is a letter, the 4-digit customs code and 7 letters or digits"
        " (e.g. T3111W000076)",
        "电子账册号为 1 位字母、4 位关区代码和 7 位字母或数字（如 T3111W000076）"),
    "setting_ic_card_form": ("an IC card number is 8 to 20 letters or digits",
                             "IC 卡号为 8 至 20 位字母或数字"),
    "setting_sys_id_form": ("the system id is Z7 (special area) or Z8 (bonded logistics)",
                            "系统标识为 Z7（特殊区域）或 Z8（保税物流）"),
    "setting_dxp_id_form": ("a Single Window channel id is DXP, 3 letters and 10 letters or"
                            " digits (e.g. DXPENT0000018755)",
                            "电子口岸通道编号为 DXP、3 位字母和 10 位字母或数字"
                            "（如 DXPENT0000018755）"),
    "settings_not_object": ("give the settings as an object of key: value",
                            "请以“键: 值”对象提交设置"),
    "settings_invalid": ("{count} setting(s) are not right; nothing was saved",
                         "{count} 项设置有误；未保存任何设置"),
    "settings_missing": ("the company settings lack {keys}: an admin sets them on the settings"
                         " page", "公司设置缺少 {keys}：请管理员在设置页填写"),
    "book_empty": ("the account book file has no header or no items",
                   "账册文件没有表头或没有料号"),
    "book_header_wrong": ("the account book's header is not right", "账册表头有误"),
    "book_errors": ("{count} problem(s) in the account book; nothing was imported",
                    "账册有 {count} 处问题；未导入任何内容"),
    "book_too_many": ("an account book has at most {limit} items", "账册最多 {limit} 个料号"),
    "book_hs_code_form": ("the HS code is 10 digits", "商品编码为 10 位数字"),
    "book_second_unit_missing": ("a second legal quantity needs its unit",
                                 "第二法定数量需填写第二法定计量单位"),
    "book_repeated": ("{value} is already on row {row}", "{value} 已在第 {row} 行"),
    "sku_not_in_book": ("line {line_no}: item {sku} is not in the account book (电子账册):"
                        " import the book with it before confirming",
                        "第 {line_no} 行：料号 {sku} 不在电子账册中，请先导入含该料号的账册再确认"),
    "message_schema_invalid": ("{kind} does not match its schema, not sent: {detail}",
                               "{kind} 报文不符合报文格式，未发送：{detail}"),
    "message_not_found": ("no customs message {message_id}", "没有海关报文 {message_id}"),
    "message_not_resendable": ("only the latest version of a message that was not sent can be"
                               " sent again; this {kind} is {status}",
                               "只有未发送的报文的最新版本可以重新发送；该 {kind} 报文状态为"
                               "{status_zh}"),
    "client_could_not_send": ("the Single Window client could not send {file} (try {n} of"
                              " {tries}); handed to it again as {next_file}",
                              "单一窗口客户端未能发送 {file}（第 {n} 次，共 {tries} 次），"
                              "已重新交给客户端：{next_file}"),
    "client_gave_up": ("the Single Window client could not send {file} in {tries} tries: check"
                       " its IC card and its connection, then send the message again",
                       "单一窗口客户端 {tries} 次均未能发送 {file}：请检查 IC 卡和客户端网络，"
                       "然后重新发送该报文"),
    # --- customs receipts: refusals shown on the consignment page (tally/receipts.py) ---------
    "receipt_list_store_failed": ("customs could not store the inventory list (INV201 Z):"
                                  " {reason_en}", "海关入库失败（核注清单 INV201 Z）：{reason}"),
    "receipt_list_returned": ("customs returned the inventory list (INV201 3): {reason_en}",
                              "海关退单（核注清单 INV201 3）：{reason}"),
    "receipt_order_store_failed": ("customs could not store release order {number} (SAS221 Z):"
                                   " {reason_en}",
                                   "核放单 {number} 海关入库失败（SAS221 Z）：{reason}"),
    "receipt_order_returned": ("customs returned release order {number} (SAS221 3): {reason_en}",
                               "核放单 {number} 海关退单（SAS221 3）：{reason}"),
    "receipt_gate_refused": ("customs refused release order {number} at the gate (SAS224 2):"
                             " {reason_en}",
                             "核放单 {number} 卡口查验不予放行（SAS224 2）：{reason}"),
    "joined": ("{en}", "{zh}"),
}


class Text(str):
    """A message in English (the string itself) with its stable ``code`` and its Chinese ``zh``."""

    code: str
    zh: str
    params: dict

    def __new__(cls, code: str, /, **params):
        en, zh = CATALOGUE[code]
        values = {**params}
        for key, value in params.items():
            values[key + "_zh"] = value.zh if isinstance(value, Text) else (
                TERMS_ZH.get(value, value) if isinstance(value, str) else value)
        text = super().__new__(cls, en.format(**values))
        text.code, text.zh, text.params = code, zh.format(**values), params
        return text

    def __reduce__(self):  # pickles (multiprocessing, caches) as a Text, not as its parts
        return (_text, (self.code, self.params))


def _text(code: str, params: dict) -> "Text":
    return Text(code, **params)


def say(code: str, /, **params) -> Text:
    """The message ``code`` filled from ``params``: English as the string, Chinese as ``.zh``."""
    return Text(code, **params)


def english_and_chinese(message, fallback: str) -> tuple[str, str, str]:
    """``(code, English, Chinese)`` of a message: its own if it is a Text, else the ``fallback``
    code's Chinese beside the English as given (an error no raise site has coded yet)."""
    if isinstance(message, Text):
        return message.code, str(message), message.zh
    return fallback, "" if message is None else str(message), CATALOGUE[fallback][1]


def coded(item: dict, fallback: str = "invalid_value") -> dict:
    """One item of an ``errors`` list with ``code`` and ``message_zh`` beside its ``message``."""
    code, english, chinese_text = english_and_chinese(item.get("message"), fallback)
    out = {key: value for key, value in item.items() if key not in ("code", "message")}
    out.update(code=code, message=english, message_zh=chinese_text)
    return out


def joined(texts) -> Text:
    """Several messages as one: English joined by "; ", Chinese by "；"."""
    parts = [english_and_chinese(text, "invalid_value") for text in texts]
    return Text("joined", en="; ".join(p[1] for p in parts), zh="；".join(p[2] for p in parts))
