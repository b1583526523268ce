;; The module behind host_bench's and calls.js's call figures: each loop runs n calls of one
;; kind, so a figure per call is the loop's time over n (the loop's own ops included, the
;; same in every engine).
(module
  (import "env" "p" (func $p (param i32) (result i32)))  ;; host: returns its argument
  (import "env" "h" (func $h (param i32) (result i32)))  ;; host: calls the export "id"
  (func $id (export "id") (param i32) (result i32) local.get 0)
  (func (export "local") (param $n i32) (result i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (call $id (local.get $n))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    local.get $s)
  (func (export "import") (param $n i32) (result i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (call $p (local.get $n))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    local.get $s)
  (func (export "nested") (param $n i32) (result i32) (local $s i32)
    (loop $l
      (local.set $s (i32.add (local.get $s) (call $h (local.get $n))))
      (br_if $l (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    local.get $s))
