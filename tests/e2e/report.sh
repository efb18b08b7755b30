#!/usr/bin/env bash
# tests/e2e/report.sh: the report writers' output read back by real parsers: xmllint (JUnit,
# against a schema of the common JUnit shape) and jq (SARIF, JSON). `test_report --write DIR`
# renders tests/data/audit/sample.json in every format; this script builds nothing.
. "$(dirname "$0")/lib.sh"
BUILD=${BUILD:-build}
WRITER=$PWD/$BUILD/tests/test_report
SAMPLE=tests/data/audit/sample.json

if [ ! -x "$WRITER" ]; then
	not_ok "test_report is built" "$WRITER is missing: run make test"
	e2e_done
fi
expect_rc "render the sample in every format" 0 "$WRITER" --write "$TMP"
for ext in txt json xml sarif md; do
	if [ -s "$TMP/report.$ext" ]; then ok "report.$ext written"; else not_ok "report.$ext written"; fi
done

# check NAME CMD...: the command succeeds.
check() {
	local name=$1
	shift
	run_cmd "$@"
	if [ "$RC" -eq 0 ]; then ok "$name"; else not_ok "$name" "exit $RC" "stdout: ${OUT:0:600}" "stderr: ${ERR:0:600}"; fi
}

# expect_eq NAME GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi
}

# JUnit. The schema below is a strict subset of the shape CI servers read (the Jenkins xunit
# junit-10.xsd, tests/data/junit-10.xsd, which junit.sh checks too, and the Ant/Surefire files
# it describes): only those elements and attributes, no others.
cat >"$TMP/junit.xsd" <<'XSD'
<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
  <xs:complexType name="problem" mixed="true">
    <xs:attribute name="message" type="xs:string"/>
    <xs:attribute name="type" type="xs:string"/>
  </xs:complexType>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="testsuite" minOccurs="0" maxOccurs="unbounded">
          <xs:complexType>
            <xs:sequence>
              <xs:element name="properties" minOccurs="0">
                <xs:complexType>
                  <xs:sequence>
                    <xs:element name="property" minOccurs="0" maxOccurs="unbounded">
                      <xs:complexType>
                        <xs:attribute name="name" type="xs:string" use="required"/>
                        <xs:attribute name="value" type="xs:string" use="required"/>
                      </xs:complexType>
                    </xs:element>
                  </xs:sequence>
                </xs:complexType>
              </xs:element>
              <xs:element name="testcase" minOccurs="0" maxOccurs="unbounded">
                <xs:complexType>
                  <xs:choice minOccurs="0" maxOccurs="unbounded">
                    <xs:element name="error" type="problem"/>
                    <xs:element name="failure" type="problem"/>
                  </xs:choice>
                  <xs:attribute name="name" type="xs:string" use="required"/>
                  <xs:attribute name="classname" type="xs:string"/>
                </xs:complexType>
              </xs:element>
            </xs:sequence>
            <xs:attribute name="name" type="xs:string" use="required"/>
            <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="failures" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="errors" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
            <xs:attribute name="timestamp" type="xs:string"/>
            <xs:attribute name="file" type="xs:string"/>
          </xs:complexType>
        </xs:element>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
XSD
XML=$TMP/report.xml
check "junit is well-formed XML" xmllint --noout "$XML"
check "junit has the JUnit shape" xmllint --noout --schema "$TMP/junit.xsd" "$XML"
xp() { xmllint --xpath "$1" "$XML" 2>/dev/null; }
expect_eq "junit: a testcase per rule" "$(xp 'count(//testcase)')" 8
expect_eq "junit: a failure per failed testcase" "$(xp 'count(//failure)')" 4
expect_eq "junit: ... holding each of its findings" "$(xp 'string(//testsuite[@name="traffic.baseline"]//failure)' | grep -c '^subject: ')" 2
check "junit: valid against junit-10.xsd" xmllint --noout --schema tests/data/junit-10.xsd "$XML"
expect_eq "junit: an error per errored rule" "$(xp 'count(//error)')" 1
expect_eq "junit: suites add up to the total" "$(xp 'sum(//testsuite/@tests)')" "$(xp 'string(/testsuites/@tests)')"
expect_eq "junit: failures count the failure elements" "$(xp 'count(//failure)')" "$(xp 'string(/testsuites/@failures)')"
expect_eq "junit: escaped attribute reads back" \
	"$(xp 'string(//testsuite[@name="rbac.zero-trust"]/testcase/failure/@message)')" \
	"billing/payments <admin> & \"ops\" | 'all': allow rule 'any' admits principal \"*\"\\x1b[31m (terminal escape)\\x1b[0m"
expect_eq "junit: a newline in an attribute survives" \
	"$(xp 'string(//testsuite[@name="residency.gdpr"]/testcase/failure[1]/@message)')" \
	"2 findings; the first: shop/api@us1: pii flows to us-east1 (US)
via route web-api | weight 10"
expect_eq "junit: escaped text reads back" \
	"$(xp 'string(//testsuite[@name="rbac.zero-trust"]//failure)' | head -n 1)" \
	"subject: billing/payments <admin> & \"ops\" | 'all'"

# SARIF
SARIF=$TMP/report.sarif
check "sarif is JSON" jq -e . "$SARIF"
check "sarif 2.1.0 with one run" jq -e '.version == "2.1.0" and
	."$schema" == "https://json.schemastore.org/sarif-2.1.0.json" and (.runs | length) == 1' "$SARIF"
check "sarif: a result per finding" jq -e --slurpfile a "$SAMPLE" \
	'(.runs[0].results | length) == ($a[0].findings | length)' "$SARIF"
check "sarif: ruleIds name the finding's policy/rule" jq -e --slurpfile a "$SAMPLE" \
	'[.runs[0].results[].ruleId] == [$a[0].findings[] | "\(.policy)/\(.rule)"]' "$SARIF"
check "sarif: ruleIndex points at that rule" jq -e \
	'.runs[0].tool.driver.rules as $r | all(.runs[0].results[]; $r[.ruleIndex].id == .ruleId)' "$SARIF"
check "sarif: levels follow severity" jq -e --slurpfile a "$SAMPLE" '
	def level: if . == "critical" or . == "high" then "error"
		elif . == "low" or . == "info" then "note" else "warning" end;
	[.runs[0].results[].level] == [$a[0].findings[].severity | level]' "$SARIF"
check "sarif: locations have a relative uri and startLine >= 1" jq -e '
	all(.runs[0].results[] | (.locations // []), (.relatedLocations // []) | .[];
	    (.physicalLocation.artifactLocation.uri | test("^[^/:][^:]*$")) and
	    (.physicalLocation.region.startLine | type == "number" and . >= 1))' "$SARIF"
check "sarif: startLine is the finding's line" jq -e --slurpfile a "$SAMPLE" '
	[.runs[0].results[] | .locations[0].physicalLocation.region.startLine // null] ==
	[$a[0].findings[] | .location.line // null]' "$SARIF"
check "sarif: no locations without a location" jq -e \
	'.runs[0].results[4] | has("locations") | not' "$SARIF"
check "sarif: fingerprints are 64 hex digits and distinct" jq -e '
	[.runs[0].results[].partialFingerprints."meshpolFinding/v1"] |
	all(test("^[0-9a-f]{64}$")) and (unique | length) == length' "$SARIF"
check "sarif: rules carry severity, enforcement and controls" jq -e \
	'all(.runs[0].tool.driver.rules[]; .properties.severity and .properties.enforcement and
	     (.properties.controls | length) > 0 and (.shortDescription.text | length) > 0)' "$SARIF"
check "sarif: the policy error is a failed-execution notification" jq -e '
	.runs[0].invocations[0].executionSuccessful == false and
	.runs[0].invocations[0].toolExecutionNotifications[0].associatedRule.id ==
	"pci.cardholder/segmentation"' "$SARIF"

# JSON: the audit itself, through a real parser, with sorted keys.
check "json reads back equal to the audit" jq -e --slurpfile a "$SAMPLE" '. == $a[0]' "$TMP/report.json"
check "json keys are sorted" jq -e '[.. | objects | keys_unsorted == keys] | all' "$TMP/report.json"

# text and markdown: what a terminal and a renderer would see.
if grep -q $'\x1b' "$TMP/report.txt"; then not_ok "text has no escape bytes"; else ok "text has no escape bytes"; fi
run_cmd cat "$TMP/report.md"
expect_out "markdown control verdicts" '^\| ISO27001-A\.13\.1 \| FAIL \| 3 \| 2 \| 2 \|$'
expect_out "markdown control not evaluated" '^\| PCI-DSS-1\.2\.1 \| ERROR \|'
expect_out "markdown escapes pipes" 'via route web-api \\\| weight 10'

e2e_done
