!> subgrid's Fortran coupling, one module per emulator re-exported here (as FTorch's umbrella module):
!>   subgrid_common     status codes SUBGRID_OK, SUBGRID_ERROR_ARGUMENT, _LOAD, _SHAPE, _INPUT, _RUNTIME
!>   subgrid_radiation  type(radiation_emulator): init / compute / finalize, sizes asked of the handle
!>   subgrid_gw_drag    type(gw_drag_emulator):   init / compute / finalize, n_levels()
!> `use subgrid_emulator` gives all three.
module subgrid_emulator
  use subgrid_common
  use subgrid_radiation
  use subgrid_gw_drag
  implicit none
  public
end module subgrid_emulator
